// Counters of the seed's HTTP server, exposed at /metrics in the Prometheus text format (0.0.4):
// requests by route and status, bytes of bodies sent by route, requests in flight.

export class HttpMetrics {
  readonly #requests = new Map<string, number>();
  readonly #bytes = new Map<string, number>();
  inFlight = 0;
  /** More exposition text from other parts of the seed (its blob exchange), appended by the /metrics route. */
  readonly collectors: (() => string)[] = [];

  request(route: string, status: number, bytes: number): void {
    const k = `${route}\u0000${status}`;
    this.#requests.set(k, (this.#requests.get(k) ?? 0) + 1);
    this.#bytes.set(route, (this.#bytes.get(route) ?? 0) + bytes);
  }

  /** Requests counted for a route (all statuses, or one). */
  requests(route: string, status?: number): number {
    let n = 0;
    for (const [k, v] of this.#requests) {
      const [r, s] = k.split('\u0000');
      if (r === route && (status === undefined || Number(s) === status)) n += v;
    }
    return n;
  }

  bytes(route: string): number {
    return this.#bytes.get(route) ?? 0;
  }

  /** Prometheus text exposition; label values are our route names and numbers, nothing to escape. */
  render(): string {
    const lines = [
      '# HELP lpmos_http_requests_total HTTP requests answered, by route and status.',
      '# TYPE lpmos_http_requests_total counter',
    ];
    for (const [k, v] of [...this.#requests].sort(([a], [b]) => (a < b ? -1 : 1))) {
      const [route, status] = k.split('\u0000');
      lines.push(`lpmos_http_requests_total{route="${route}",status="${status}"} ${v}`);
    }
    lines.push('# HELP lpmos_http_sent_bytes_total Body bytes sent, by route.', '# TYPE lpmos_http_sent_bytes_total counter');
    for (const [route, v] of [...this.#bytes].sort(([a], [b]) => (a < b ? -1 : 1))) lines.push(`lpmos_http_sent_bytes_total{route="${route}"} ${v}`);
    lines.push('# HELP lpmos_http_requests_in_flight Requests being answered.', '# TYPE lpmos_http_requests_in_flight gauge', `lpmos_http_requests_in_flight ${this.inFlight}`);
    return `${lines.join('\n')}\n`;
  }
}
