// Package reports turns one run of the registration flow — its verdicts, its
// captured trace and its context — into files a person or a CI job reads:
//
//   - report.json: a stable, versioned schema (SCHEMA.md) for CI gates and for
//     diffs between releases of the SUT;
//   - report.html: one self-contained page (no scripts, no network fetches) with
//     the summary, a ladder diagram of every message, the expected/observed
//     grid of every table, and the raw messages;
//   - trace.pcap: the captured messages, written by harness/trace;
//   - a one-screen console summary.
//
// Every value that comes from the SUT (raw messages, observed values, reasons,
// header values) is treated as hostile: it is escaped in HTML, escaped in JSON,
// and made printable on the console. The lab profile is written through an
// explicit allow-list and its secrets (K, OP, OPc) never appear.
//
// Whatever the trace holds, the HTML stays bounded (at most 12 MiB: it
// shows at most 4 MiB of raw messages, folds runs of unrelated traffic in
// the ladder and cuts long cells); Write writes the files of one run as a
// set, under a lock of the directory (see Write).
//
// The package only reads a Run: it does not run the flow, judge messages or
// parse SIP beyond the start line it needs for labels.
package reports
