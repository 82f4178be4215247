// Table-driven tests of the decoders backed by system facts: ksym, kstack,
// cgroup, ifname, majorminor, pci_*. Fixtures in a temp dir; the real
// system where it is readable.
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { chainDecoders, createDecoder, type DecoderConfig, type DecoderEnv } from "../lib/decoders/mod.ts";
import { parseKallsyms } from "../lib/decoders/kallsyms.ts";
import { splitDev } from "../lib/decoders/majorminor.ts";
import { cgroup2Root } from "../lib/decoders/cgroup.ts";
import { announceSkip } from "./support/ebpf.ts";

const le = (n: bigint, size: number) => {
  const b = new Uint8Array(size);
  for (let i = 0; i < size; i++) b[i] = Number((n >> BigInt(8 * i)) & 0xffn);
  return b;
};
const concat = (...parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
};

function decode(configs: DecoderConfig[], input: Uint8Array, env: DecoderEnv) {
  return chainDecoders(configs.map((c) => createDecoder(c, env)), input.length, false)(input, 0);
}

const dir = Deno.makeTempDirSync({ prefix: "rb_decoders_" });
Deno.writeTextFileSync(
  `${dir}/kallsyms`,
  [
    "ffffffff81000000 T _text",
    "ffffffff81001000 T do_one",
    "ffffffff81002000 t do_two\t[mymod]",
    "0000000000000000 A fixed_percpu_data",
    "ffffffff81000800 T between",
  ].join("\n") + "\n",
);
Deno.writeTextFileSync(
  `${dir}/partitions`,
  "major minor  #blocks  name\n\n 259        0  104857600 nvme0n1\n 259        1     524288 nvme0n1p1\n   8       17   1000 sdb1\n",
);
Deno.writeTextFileSync(
  `${dir}/pci.ids`,
  [
    "# comment",
    "8086  Intel Corporation",
    "\t1237  440FX - 82441FX PMC [Natoma]",
    "\t\t1af4 1100  Qemu virtual machine",
    "10de  NVIDIA Corporation",
    "C 02  Network controller",
    "\t00  Ethernet controller",
    "\t80  Network controller",
    "C 03  Display controller",
    "\t00  VGA compatible controller",
    "\t\t00  VGA controller",
  ].join("\n") + "\n",
);
Deno.mkdirSync(`${dir}/net/eth7`, { recursive: true });
Deno.writeTextFileSync(`${dir}/net/eth7/ifindex`, "7\n");
Deno.mkdirSync(`${dir}/cg/system.slice/x.service`, { recursive: true });

const env: DecoderEnv = {
  kallsymsPath: `${dir}/kallsyms`,
  partitionsPath: `${dir}/partitions`,
  pciIdsPaths: [`${dir}/pci.ids`],
  netClassDir: `${dir}/net`,
  cgroupRoot: `${dir}/cg`,
};
const noPci: DecoderEnv = { pciIdsPaths: [`${dir}/missing.ids`] };
const ino = (p: string) => BigInt(Deno.statSync(p).ino!);
const mkdev = (major: number, minor: number) =>
  BigInt(((major & 0xfff) << 8) | (minor & 0xff) | ((minor & ~0xff) << 12));

type Case = [
  name: string,
  configs: DecoderConfig[],
  input: Uint8Array,
  want: string,
  env: DecoderEnv,
];
const cases: Case[] = [
  ["ksym exact", [{ name: "ksym" }], le(0xffffffff81001000n, 8), "do_one", env],
  ["ksym inside", [{ name: "ksym" }], le(0xffffffff81001234n, 8), "do_one", env],
  ["ksym unsorted input", [{ name: "ksym" }], le(0xffffffff81000900n, 8), "between", env],
  ["ksym module", [{ name: "ksym" }], le(0xffffffff81002010n, 8), "do_two", env],
  ["ksym below all", [{ name: "ksym" }], le(0x1000n, 8), "unknown_addr:0x1000", env],
  [
    "kstack",
    [{ name: "kstack" }],
    concat(
      le(0xffffffff81002001n, 8),
      le(0xffffffff81000001n, 8),
      le(0x10n, 8),
      le(0n, 8),
      le(0xffffffff81001000n, 8),
    ),
    "do_two\n_text\n??",
    env,
  ],
  ["majorminor", [{ name: "majorminor" }], le(mkdev(259, 1), 4), "nvme0n1p1", env],
  [
    "majorminor via uint",
    [{ name: "uint" }, { name: "majorminor" }],
    le(mkdev(8, 17), 4),
    "sdb1",
    env,
  ],
  ["majorminor unknown", [{ name: "majorminor" }], le(mkdev(9, 9), 4), "unknown:9:9", env],
  ["ifname", [{ name: "ifname" }], le(7n, 4), "eth7", env],
  ["ifname unknown", [{ name: "ifname" }], le(99n, 4), "unknown:99", env],
  [
    "cgroup root",
    [{ name: "uint" }, { name: "cgroup" }],
    le(ino(`${dir}/cg`), 8),
    `${dir}/cg`,
    env,
  ],
  [
    "cgroup nested",
    [{ name: "cgroup" }],
    le(ino(`${dir}/cg/system.slice/x.service`), 8),
    `${dir}/cg/system.slice/x.service`,
    env,
  ],
  ["cgroup unknown", [{ name: "cgroup" }], le(1n, 8), "unknown_cgroup_id:1", env],
  [
    "pci_vendor",
    [{ name: "uint" }, { name: "pci_vendor" }],
    le(0x8086n, 2),
    "Intel Corporation",
    env,
  ],
  [
    "pci_vendor unknown",
    [{ name: "pci_vendor" }],
    le(0x1234n, 2),
    "unknown pci vendor: 0x1234",
    env,
  ],
  ["pci_device", [{ name: "pci_device" }], le(0x80861237n, 4), "440FX - 82441FX PMC [Natoma]", env],
  ["pci_class", [{ name: "pci_class" }], le(0x02n, 1), "Network controller", env],
  ["pci_subclass", [{ name: "pci_subclass" }], le(0x0300n, 2), "VGA compatible controller", env],
  [
    "pci_subclass unknown",
    [{ name: "pci_subclass" }],
    le(0x0377n, 2),
    "unknown pci subclass: 0x0377",
    env,
  ],
  ["pci_vendor without db", [{ name: "pci_vendor" }], le(0x8086n, 2), "0x8086", noPci],
  ["pci_device without db", [{ name: "pci_device" }], le(0x80861237n, 4), "0x80861237", noPci],
  ["pci_class without db", [{ name: "pci_class" }], le(0x02n, 1), "0x02", noPci],
  ["pci_subclass without db", [{ name: "pci_subclass" }], le(0x0200n, 2), "0x0200", noPci],
];

for (const [name, configs, input, want, e] of cases) {
  Deno.test(`decoder: ${name}`, () => assertEquals(decode(configs, input, e), want));
}

Deno.test("decoder: splitDev matches the userspace dev_t encoding", () => {
  assertEquals(splitDev(Number(mkdev(259, 1))), [259, 1]);
  assertEquals(splitDev(Number(mkdev(8, 300))), [8, 300]);
});

Deno.test("decoder: parseKallsyms skips zero addresses", () => {
  assertEquals(parseKallsyms("0000000000000000 T a\n0000000000000000 T b\n").size, 0);
});

// in CI a skip fails (announceSkip)
const root = !announceSkip("decoders_system_test.ts (kallsyms)", Deno.uid() === 0 ? undefined : "not root");

Deno.test({ name: "decoder: ksym on the real /proc/kallsyms", ignore: !root }, () => {
  const line = Deno.readTextFileSync("/proc/kallsyms").split("\n").find((l) => / [Tt] do_sys_openat2$/.test(l));
  assert(line, "do_sys_openat2 in kallsyms");
  const addr = BigInt("0x" + line.split(" ")[0]) + 4n;
  assertEquals(decode([{ name: "ksym" }], le(addr, 8), {}), "do_sys_openat2");
});

Deno.test("decoder: ifname and cgroup on the real system", () => {
  assertEquals(decode([{ name: "ifname" }], le(1n, 4), {}), "lo");
  const root = cgroup2Root();
  assertEquals(decode([{ name: "cgroup" }], le(ino(root), 8), {}), root);
});
