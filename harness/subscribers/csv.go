package subscribers

import (
	"encoding/csv"
	"encoding/hex"
	"fmt"
	"io"
	"strconv"
	"strings"

	"imsconform/harness/aka"
)

// CSVHeader is the first row WriteCSV writes.
var CSVHeader = []string{"impi", "impus", "k", "op", "opc", "amf", "sqn"}

// WriteCSV writes the subscribers lo ≤ i < hi as CSV, one row each, for
// provisioning a SUT's HSS with the population a load run registers: impi;
// impus (space-separated, the registered one first); k, op and opc in hex
// (op only when the lab gives OP, which stays the operator's for every
// subscriber; opc always, each subscriber's own); amf and sqn (the HSS's
// starting SQN) in hex. The file holds key material: its caller names the
// file, and nothing else prints it.
func WriteCSV(w io.Writer, s *Set, lo, hi int) error {
	if lo < 0 || hi > s.n || lo > hi {
		return fmt.Errorf("subscribers: expected a range within 0..%d, saw %d..%d", s.n, lo, hi)
	}
	cw := csv.NewWriter(w)
	if err := cw.Write(CSVHeader); err != nil {
		return err
	}
	amf := hex.EncodeToString(s.amf[:])
	sq := aka.SQNFromUint64(s.sqn)
	sqn := hex.EncodeToString(sq[:])
	op := ""
	if s.op != nil {
		op = hex.EncodeToString(s.op)
	}
	row := make([]string, len(CSVHeader))
	for i := lo; i < hi; i++ {
		k, opc := s.keys(i)
		row[0] = s.IMPI(i)
		row[1] = strings.Join(s.IMPUs(i), " ")
		row[2] = hex.EncodeToString(k[:])
		row[3] = op
		row[4] = hex.EncodeToString(opc[:])
		row[5] = amf
		row[6] = sqn
		if err := cw.Write(row); err != nil {
			return err
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("subscribers: writing CSV after row %s: %w", strconv.Itoa(hi-lo), err)
	}
	return nil
}
