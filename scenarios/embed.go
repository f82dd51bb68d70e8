// Package scenarios holds the conformance scenarios as data: each directory
// is one flow (flow.yaml) with its tables and rules (tables/*.yaml), and a
// generated rule catalogue (RULES.md). FS exposes them to the harness.
//
// It holds no logic: package harness/scenario loads and checks the files,
// package harness/check judges messages against their rules.
package scenarios

import "embed"

// FS holds every scenario directory, e.g. "ts24206".
//
//go:embed ts24206/flow.yaml ts24206/tables/*.yaml ts24206/RULES.md
var FS embed.FS
