"""cpuinfo parsing and capability, replayed on real captures (see tests/data/cpuinfo/NOTICE)."""

from pathlib import Path

import pytest

from bf16perf.machine.cpu import (
    Capability,
    CpuInfoError,
    parse_cpuinfo,
    read_cpuinfo,
    resolve_cpuinfo_path,
    why_not,
)

CAPTURES = Path(__file__).parent / "data" / "cpuinfo"

EXPECTED = {
    "linux-unknown-sapphirerapids": (Capability.AMX, "GenuineIntel", "6", "143", "6"),
    "linux-rocky8.5-zen4": (Capability.AVX512_BF16, "AuthenticAMD", "25", "17", "1"),
    "linux-centos7-cascadelake": (Capability.NONE, "GenuineIntel", "6", "85", "7"),
    "linux-rhel7-skylake_avx512": (Capability.NONE, "GenuineIntel", "6", "85", "4"),
    "linux-rhel8-neoverse_v1": (Capability.ARM_BF16, "0x41", "8", "0xd40", "1"),
    # This project's build machines, both KVM guests named "AMD EPYC": a Zen 3 (Milan, no
    # AVX-512 at all) and a Zen 4 (Genoa, avx512_bf16).  CI may land on either.
    "linux-kvm-zen3-milan": (Capability.NONE, "AuthenticAMD", "25", "1", "1"),
    "linux-kvm-zen4-genoa": (Capability.AVX512_BF16, "AuthenticAMD", "25", "17", "1"),
    # A lent machine: a Firecracker guest of an Emerald Rapids (model 207), AMX.
    "linux-firecracker-emeraldrapids": (Capability.AMX, "GenuineIntel", "6", "207", "2"),
}


def test_every_capture_is_covered() -> None:
    files = {p.name for p in CAPTURES.iterdir() if p.name != "NOTICE"}
    assert files == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_capture(name: str) -> None:
    info = read_cpuinfo(CAPTURES / name)
    capability, vendor, family, model, stepping = EXPECTED[name]
    assert info.capability is capability
    assert (info.vendor, info.family, info.model, info.stepping) == (
        vendor,
        family,
        model,
        stepping,
    )
    assert info.logical_cpus >= 1 and info.sockets >= 1
    assert why_not(info, capability) is None


def test_sapphire_rapids_details() -> None:
    info = read_cpuinfo(CAPTURES / "linux-unknown-sapphirerapids")
    assert info.model_name == "Intel(R) Xeon(R) Platinum 8480+"
    assert {"amx_bf16", "amx_tile", "avx512_bf16"} <= info.bf16_flags
    assert info.smt is True
    assert info.logical_cpus == 112  # siblings x sockets: the capture holds one block
    assert info.microcode == "0x2b000181"


def test_emerald_rapids_guest_details() -> None:
    """A VM's cpuinfo: a generic model name, microcode 0x1, no SMT, every block present."""
    info = read_cpuinfo(CAPTURES / "linux-firecracker-emeraldrapids")
    assert info.model_name == "Intel(R) Xeon(R) Processor"
    assert {"amx_bf16", "amx_tile", "amx_int8", "avx512_bf16", "avx512_fp16"} <= info.bf16_flags
    assert "amx_fp16" not in info.flags  # Granite Rapids adds it
    assert info.logical_cpus == 16 and info.sockets == 1 and info.smt is False


def test_cascade_lake_why_not_names_the_flag() -> None:
    info = read_cpuinfo(CAPTURES / "linux-centos7-cascadelake")
    reason = why_not(info, Capability.AVX512_BF16)
    assert reason is not None and "avx512_bf16" in reason
    amx = why_not(info, Capability.AMX)
    assert amx is not None and "amx_bf16" in amx and "amx_tile" in amx


def test_zen4_lacks_amx_only() -> None:
    info = read_cpuinfo(CAPTURES / "linux-rocky8.5-zen4")
    reason = why_not(info, Capability.AMX)
    assert reason is not None and "amx_bf16, amx_tile" in reason
    assert why_not(info, Capability.AVX512_BF16) is None


def test_arm_is_not_an_x86_target() -> None:
    info = read_cpuinfo(CAPTURES / "linux-rhel8-neoverse_v1")
    assert info.arch == "aarch64"
    reason = why_not(info, Capability.AVX512_BF16)
    assert reason is not None and "aarch64" in reason


def test_arm_cores_are_named_as_users_know_them(tmp_path: Path) -> None:
    info = read_cpuinfo(CAPTURES / "linux-rhel8-neoverse_v1")
    assert info.model_name == "ARM Neoverse-V1" and info.model == "0xd40"
    unknown = (CAPTURES / "linux-rhel8-neoverse_v1").read_text().replace("0xd40", "0xfff")
    (tmp_path / "cpuinfo").write_text(unknown)
    other = read_cpuinfo(tmp_path / "cpuinfo")
    assert other.model_name == "Arm CPU (implementer 0x41, part 0xfff)"


def test_arm_without_bf16_names_the_arm_flag(tmp_path: Path) -> None:
    """An Arm machine without bf16 is told it lacks Arm's ``bf16``, not x86's avx512_bf16."""
    from bf16perf.machine.host import detect_machine

    text = (CAPTURES / "linux-rhel8-neoverse_v1").read_text()
    (tmp_path / "cpuinfo").write_text(text.replace(" svebf16", "").replace(" bf16", ""))
    machine = detect_machine(tmp_path / "cpuinfo")
    reason = machine.why_no_bf16()
    assert reason is not None and "lacks bf16" in reason and "avx512" not in reason, reason
    header = "\n".join(machine.header_lines())
    assert "ARM Neoverse-V1" in header and "avx512" not in header, header


def test_this_machine_parses() -> None:
    proc = Path("/proc/cpuinfo")
    if not proc.exists():
        pytest.skip("no /proc/cpuinfo on this OS")
    info = read_cpuinfo(proc)
    assert info.logical_cpus >= 1
    assert info.capability in set(Capability)


def test_counts_sockets_and_blocks() -> None:
    block = (
        "processor : {n}\nvendor_id : GenuineIntel\nphysical id : {s}\nsiblings : 2\n"
        "cpu cores : 1\nflags : fpu avx512_bf16\n\n"
    )
    text = "".join(block.format(n=n, s=n // 2) for n in range(4))
    info = parse_cpuinfo(text)
    assert (info.logical_cpus, info.sockets, info.smt) == (4, 2, True)
    assert info.capability is Capability.AVX512_BF16


@pytest.mark.parametrize(
    "text, words",
    [
        ("", "no 'processor' entries"),
        ("hello world\nthis is not cpuinfo\n", "no 'processor' entries"),
        ("processor : 0\nvendor_id : X\n", "neither a 'flags' nor a 'Features' line"),
    ],
)
def test_malformed(text: str, words: str) -> None:
    with pytest.raises(CpuInfoError, match=words) as exc:
        parse_cpuinfo(text, source="bad.txt")
    assert "bad.txt" in str(exc.value)


def test_missing_and_binary_files(tmp_path: Path) -> None:
    with pytest.raises(CpuInfoError, match="does not exist"):
        read_cpuinfo(tmp_path / "nope")
    binary = tmp_path / "bin"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(CpuInfoError, match="not text"):
        read_cpuinfo(binary)
    with pytest.raises(CpuInfoError, match="cannot read"):
        read_cpuinfo(tmp_path)  # a directory


def test_resolve_order() -> None:
    env = {"BF16PERF_CPUINFO": "/from/env"}
    assert resolve_cpuinfo_path("/from/option", env) == Path("/from/option")
    assert resolve_cpuinfo_path(None, env) == Path("/from/env")
    assert resolve_cpuinfo_path(None, {}) == Path("/proc/cpuinfo")
