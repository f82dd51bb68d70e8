package main

import (
	"io"
	"strings"
	"testing"
)

func TestRefusesNonLoopback(t *testing.T) {
	for _, args := range [][]string{
		{"-listen", "0.0.0.0:5060"},
		{"-listen", "[::]:0"},
		{"-listen", "127.0.0.1:0", "-vcc", "192.0.2.1:5060"},
		{"-transport", "sctp"},
		{"-lab", "/nonexistent/lab.yaml"},
		{"extra"},
	} {
		err := run(args, io.Discard, io.Discard)
		if err == nil {
			t.Errorf("%q: expected an error, got none", args)
		}
	}
	err := run([]string{"-listen", "0.0.0.0:0"}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Errorf("expected an error naming loopback, got %v", err)
	}
}
