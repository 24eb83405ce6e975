// Counters of the TFTP server, read by the seed's status/metrics endpoint and by tests.

export interface TftpMetrics {
  /** Read requests accepted (a transfer was started). */
  transfers: number;
  /** Transfers whose last block was acknowledged. */
  completed: number;
  /** Transfers that ended otherwise: timeout, deadline, client error, socket error, shutdown. */
  failed: number;
  /** File bytes of completed transfers. */
  bytes: number;
  /** ERROR packets sent (refusals and aborted transfers). */
  errors: number;
  /** DATA/OACK packets sent again after a timeout. */
  retransmits: number;
  /** Requests refused because the concurrent-transfer limit was reached. */
  busy: number;
  /** Packets dropped as malformed or unexpected. */
  dropped: number;
  /** Transfers in progress. */
  active: number;
}

export function newMetrics(): TftpMetrics {
  return { transfers: 0, completed: 0, failed: 0, bytes: 0, errors: 0, retransmits: 0, busy: 0, dropped: 0, active: 0 };
}
