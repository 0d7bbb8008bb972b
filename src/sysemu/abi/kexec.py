"""The machine architectures a ``kexec_load`` image may be for (``linux/kexec.h``), by the
value of the high half of its flags: architecture facts, kept with the ABIs."""

from __future__ import annotations

KEXEC_ARCHES = {0: "KEXEC_ARCH_DEFAULT", 3 << 16: "KEXEC_ARCH_386", 8 << 16: "KEXEC_ARCH_MIPS",
                10 << 16: "KEXEC_ARCH_MIPS_LE", 15 << 16: "KEXEC_ARCH_PARISC",
                20 << 16: "KEXEC_ARCH_PPC", 21 << 16: "KEXEC_ARCH_PPC64",
                22 << 16: "KEXEC_ARCH_S390", 40 << 16: "KEXEC_ARCH_ARM",
                42 << 16: "KEXEC_ARCH_SH", 50 << 16: "KEXEC_ARCH_IA_64",
                62 << 16: "KEXEC_ARCH_X86_64", 183 << 16: "KEXEC_ARCH_AARCH64",
                258 << 16: "KEXEC_ARCH_LOONGARCH"}  # fmt: skip
"""``KEXEC_ARCH_*`` names by value (the flags' bits 16-31)."""
