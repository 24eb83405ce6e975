// debootstrap's progress as percentages. With --debian-installer, debootstrap writes its
// machine-readable protocol to fd 3 (debootstrap(8), functions: progress/info): `P: now end PHASE`
// for progress, `PF: text` for the phase's text, `I: ID` + `IA: arg` + `IF: format` for messages.
// Phases in run order, each given a share of the whole (each phase counts from 0 to its own end:
// bytes for DOWNDEBS, packages for the dpkg phases). Pure: fed line by line, never goes backwards.

const BANDS: Record<string, [number, number]> = {
  DOWNREL: [0, 1],
  DOWNRELSIG: [1, 2],
  DOWNPKGS: [2, 5],
  DOWNMAINPKGS: [2, 5],
  SIZEDEBS: [5, 6],
  DOWNDEBS: [6, 35],
  EXTRACTPKGS: [35, 45],
  INSTCORE: [45, 48],
  UNPACKREQ: [48, 60],
  CONFREQ: [60, 72],
  UNPACKBASE: [72, 85],
  CONFBASE: [85, 100],
};

export interface DebootstrapProgress {
  percent: number;
  phase: string;
  /** Bytes of packages downloaded so far (DOWNDEBS counts bytes). */
  bytes?: number;
  message?: string;
}

/** `IF: Retrieving %s %s` with its `IA:` arguments → `Retrieving Packages`. */
function format(fmt: string, args: string[]): string {
  let i = 0;
  return fmt.replace(/%s/g, () => args[i++] ?? '').replace(/\s+/g, ' ').trim();
}

export class DebootstrapProgressParser {
  #phase = '';
  #percent = 0;
  #bytes: number | undefined;
  #args: string[] = [];

  /** One line of fd 3; returns an update when the percentage or the message changed. */
  feed(line: string): DebootstrapProgress | undefined {
    const m = /^([A-Z]+): ?(.*)$/.exec(line.trimEnd());
    if (!m) return undefined;
    const [, tag, rest = ''] = m;
    switch (tag) {
      case 'P': {
        const [now, end, phase] = rest.split(/\s+/);
        if (phase) this.#phase = phase;
        const band = BANDS[this.#phase];
        const n = Number(now);
        const e = Number(end);
        if (!band || !Number.isFinite(n) || !Number.isFinite(e) || e <= 0) return undefined;
        if (this.#phase === 'DOWNDEBS') this.#bytes = Math.max(this.#bytes ?? 0, n); // the phase ends with `P: 0 total`
        const p = Math.floor(band[0] + ((band[1] - band[0]) * Math.min(n, e)) / e);
        if (p <= this.#percent) return undefined;
        this.#percent = p;
        return this.#update();
      }
      // Messages: `I:`/`W:`/`E:` open one (an id), `?A:` add arguments, `?F:` is its format.
      case 'I':
      case 'W':
      case 'E':
        this.#args = [];
        return undefined;
      case 'IA':
      case 'WA':
      case 'EA':
        this.#args.push(rest);
        return undefined;
      case 'IF':
      case 'WF':
      case 'EF': {
        const prefix = tag === 'EF' ? 'error: ' : tag === 'WF' ? 'warning: ' : '';
        return { ...this.#update(), message: prefix + format(rest, this.#args) };
      }
      default:
        return undefined;
    }
  }

  #update(): DebootstrapProgress {
    return { percent: this.#percent, phase: this.#phase, ...(this.#bytes !== undefined ? { bytes: this.#bytes } : {}) };
  }
}
