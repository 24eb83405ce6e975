// Which CPU the worker thread runs on, decided from where the client's datagrams arrive
// (SO_INCOMING_CPU): a lock-step transfer is one wake-up per block each way, and a wake-up on
// another CPU (an inter-processor interrupt, costly on a virtual machine with idle vCPUs) costs
// more than the whole block. Linux only; on failure nothing is pinned.
import koffi from 'koffi';

const SOL_SOCKET = 1;
const SO_INCOMING_CPU = 49;
const MASK_BYTES = 128; // cpu_set_t: 1024 CPUs

interface Calls {
  getsockopt(fd: number, level: number, name: number, value: Int32Array, len: Int32Array): number;
  sched_setaffinity(pid: number, size: number, mask: Buffer): number;
  sched_getaffinity(pid: number, size: number, mask: Buffer): number;
}

let calls: Calls | null | undefined;

function load(): Calls | null {
  if (calls !== undefined) return calls;
  try {
    const lib = koffi.load('libc.so.6');
    calls = {
      getsockopt: lib.func('int getsockopt(int, int, int, _Out_ int32_t *, _Inout_ int32_t *)') as Calls['getsockopt'],
      sched_setaffinity: lib.func('int sched_setaffinity(int, size_t, const uint8_t *)') as Calls['sched_setaffinity'],
      sched_getaffinity: lib.func('int sched_getaffinity(int, size_t, uint8_t *)') as Calls['sched_getaffinity'],
    };
  } catch {
    calls = null;
  }
  return calls;
}

/** Pins the calling thread to the CPU a socket's datagrams arrive on, and back to all it may use. */
export class CpuFollower {
  readonly #c = load();
  readonly #all = Buffer.alloc(MASK_BYTES);
  readonly #one = Buffer.alloc(MASK_BYTES);
  readonly #val = new Int32Array(1);
  readonly #len = new Int32Array(1);
  #pinned = -1;
  #ok: boolean;

  constructor() {
    this.#ok = this.#c !== null && this.#c.sched_getaffinity(0, MASK_BYTES, this.#all) === 0;
  }

  /** The CPU that processed the socket's last incoming datagram, or -1. */
  incoming(fd: number): number {
    if (!this.#ok) return -1;
    this.#len[0] = 4;
    return this.#c!.getsockopt(fd, SOL_SOCKET, SO_INCOMING_CPU, this.#val, this.#len) === 0 ? this.#val[0]! : -1;
  }

  /** Runs this thread on the CPU `fd`'s datagrams come in on (if it may run there). */
  follow(fd: number): void {
    const cpu = this.incoming(fd);
    if (cpu < 0 || cpu === this.#pinned || cpu >= MASK_BYTES * 8) return;
    if (!(this.#all[cpu >> 3]! & (1 << (cpu & 7)))) return;
    this.#one.fill(0);
    this.#one[cpu >> 3] = 1 << (cpu & 7);
    if (this.#c!.sched_setaffinity(0, MASK_BYTES, this.#one) === 0) this.#pinned = cpu;
  }

  /** Back to every CPU the thread started with. */
  release(): void {
    if (this.#pinned < 0) return;
    if (this.#c!.sched_setaffinity(0, MASK_BYTES, this.#all) === 0) this.#pinned = -1;
  }
}
