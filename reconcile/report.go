package reconcile

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"
)

// Kind is what differs about a row.
type Kind string

// The kinds of difference.
const (
	KindMissing Kind = "missing" // on the source, not on the target
	KindExtra   Kind = "extra"   // on the target, not on the source
	KindChanged Kind = "changed" // on both, with different values
)

// TableStatus is a table's outcome.
type TableStatus string

// Table outcomes, from best to worst.
const (
	StatusConsistent    TableStatus = "consistent"
	StatusRepaired      TableStatus = "repaired"       // drift found and repaired, repairs verified
	StatusUnsettled     TableStatus = "unsettled"      // candidates left unsettled (replication did not catch up in time)
	StatusDrift         TableStatus = "drift"          // drift found and not (fully) repaired
	StatusNotComparable TableStatus = "not_comparable" // see Reason
	StatusError         TableStatus = "error"          // see Error
)

// KeyPart is one key column's value. Text is given as is; binary values (or
// text that is not valid UTF-8) as 0x-prefixed hex.
type KeyPart struct {
	Column string
	Value  string
}

// KeyValues is a row's key in key order. It marshals as a JSON object whose
// members keep key order.
type KeyValues []KeyPart

// MarshalJSON writes {"col": "value", …} in key order.
func (k KeyValues) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, p := range k {
		if i > 0 {
			b.WriteByte(',')
		}
		name, err := json.Marshal(p.Column)
		if err != nil {
			return nil, err
		}
		val, err := json.Marshal(p.Value)
		if err != nil {
			return nil, err
		}
		b.Write(name)
		b.WriteByte(':')
		b.Write(val)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// UnmarshalJSON reads the object form back, in order.
func (k *KeyValues) UnmarshalJSON(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return fmt.Errorf("key: want a JSON object")
	}
	*k = nil
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return fmt.Errorf("key: %w", err)
		}
		name, _ := t.(string)
		var v string
		if err := dec.Decode(&v); err != nil {
			return fmt.Errorf("key: %w", err)
		}
		*k = append(*k, KeyPart{Column: name, Value: v})
	}
	return nil
}

// String is the key as "(a=1, b=x)".
func (k KeyValues) String() string {
	parts := make([]string, len(k))
	for i, p := range k {
		parts[i] = p.Column + "=" + p.Value
	}
	return "(" + strings.Join(parts, ", ") + ")"
}

func keyValues(t *tablePlan, k rowKey) KeyValues {
	kv := make(KeyValues, len(t.Key))
	for i, c := range t.KeyColumns() {
		kv[i] = KeyPart{Column: c.Name, Value: displayValue(c, k[i])}
	}
	return kv
}

func displayValue(c tableColumn, v []byte) string {
	if c.class == classBinary || c.class == classVector || !utf8.Valid(v) {
		return "0x" + strings.ToUpper(hex.EncodeToString(v))
	}
	return string(v)
}

// Difference is one row that differs, confirmed after settling.
type Difference struct {
	Table string    `json:"table"`
	Key   KeyValues `json:"key"`
	Kind  Kind      `json:"kind"`
	// Columns lists the columns that differ, for changed rows.
	Columns []string `json:"columns,omitempty"`
	// RepairSQL is the statement that makes the target match the source's
	// row as read at confirmation (run it with sql_log_bin=0).
	RepairSQL string `json:"repair_sql,omitempty"`
	// Repaired: the repair was written and a second pass found the row
	// equal on both sides.
	Repaired    bool   `json:"repaired"`
	RepairError string `json:"repair_error,omitempty"`
}

// Unsettled is a candidate difference that could not be confirmed or ruled
// out: the target's applier did not pass the source position in time. It is
// not drift; run again when replication has caught up.
type Unsettled struct {
	Table  string    `json:"table"`
	Key    KeyValues `json:"key"`
	Reason string    `json:"reason"`
}

// TableResult is one table's outcome.
type TableResult struct {
	Table  string      `json:"table"`
	Status TableStatus `json:"status"`
	// Reason says why a table is not comparable.
	Reason string `json:"reason,omitempty"`
	// Error is the failure that stopped the table's comparison.
	Error string `json:"error,omitempty"`
	// Key names the columns rows are identified by.
	Key       []string `json:"key,omitempty"`
	Rows      int64    `json:"rows_checked"`
	Chunks    int      `json:"chunks"`
	Missing   int      `json:"missing"`
	Extra     int      `json:"extra"`
	Changed   int      `json:"changed"`
	Repaired  int      `json:"repaired"`
	Unsettled int      `json:"unsettled"`
	// Resumed: chunks done by an earlier, interrupted run were reused.
	Resumed bool    `json:"resumed,omitempty"`
	Seconds float64 `json:"seconds"`
}

// Summary totals the tables.
type Summary struct {
	Tables        int   `json:"tables"`
	Consistent    int   `json:"consistent"`
	NotComparable int   `json:"not_comparable"`
	Errors        int   `json:"errors"`
	Rows          int64 `json:"rows_checked"`
	Differences   int   `json:"differences"`
	Missing       int   `json:"missing"`
	Extra         int   `json:"extra"`
	Changed       int   `json:"changed"`
	Repaired      int   `json:"repaired"`
	Unsettled     int   `json:"unsettled"`
}

// Report is the outcome of a run.
type Report struct {
	RunID       string        `json:"run_id"`
	Cluster     string        `json:"cluster,omitempty"`
	Mode        string        `json:"mode"` // "dry-run" or "repair"
	Settle      bool          `json:"settle"`
	StartedAt   time.Time     `json:"started_at"`
	FinishedAt  time.Time     `json:"finished_at"`
	Summary     Summary       `json:"summary"`
	Tables      []TableResult `json:"tables"`
	Differences []Difference  `json:"differences"`
	Unsettled   []Unsettled   `json:"unsettled"`
}

// summarize fills Summary from Tables, Differences and Unsettled.
func (r *Report) summarize() {
	s := Summary{Tables: len(r.Tables)}
	for _, t := range r.Tables {
		switch t.Status {
		case StatusConsistent:
			s.Consistent++
		case StatusNotComparable:
			s.NotComparable++
		case StatusError:
			s.Errors++
		}
		s.Rows += t.Rows
	}
	for _, d := range r.Differences {
		s.Differences++
		switch d.Kind {
		case KindMissing:
			s.Missing++
		case KindExtra:
			s.Extra++
		case KindChanged:
			s.Changed++
		}
		if d.Repaired {
			s.Repaired++
		}
	}
	s.Unsettled = len(r.Unsettled)
	r.Summary = s
}

// ExitCode maps the report to drc's exit codes: 2 when a table failed with
// an error; 1 when drift is left unrepaired, a candidate is unsettled or a
// table could not be compared; 0 when every table is consistent (or was
// repaired and verified).
func (r *Report) ExitCode() int {
	code := 0
	for _, t := range r.Tables {
		switch t.Status {
		case StatusError:
			return 2
		case StatusDrift, StatusUnsettled, StatusNotComparable:
			code = 1
		}
	}
	return code
}

// ExitCode is the process exit code for Run's results: 2 when Run failed,
// otherwise the report's.
func ExitCode(r *Report, err error) int {
	if err != nil || r == nil {
		return 2
	}
	return r.ExitCode()
}

// WriteJSON writes the report as one indented JSON document.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(r); err != nil {
		return fmt.Errorf("write json report: %w", err)
	}
	return nil
}

// WriteText writes the report for people: a table per table, the
// differences, what is unsettled and why, and the repair SQL of a dry run.
func (r *Report) WriteText(w io.Writer) error {
	var b bytes.Buffer
	fmt.Fprintf(&b, "drc reconcile run %s (%s", r.RunID, r.Mode)
	if r.Cluster != "" {
		fmt.Fprintf(&b, ", cluster %s", r.Cluster)
	}
	if !r.Settle {
		b.WriteString(", settling off")
	}
	fmt.Fprintf(&b, ") in %s\n\n", r.FinishedAt.Sub(r.StartedAt).Round(time.Millisecond))

	tw := tabwriter.NewWriter(&b, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "TABLE\tSTATUS\tROWS\tCHUNKS\tMISSING\tEXTRA\tCHANGED\tREPAIRED\tUNSETTLED\t")
	for _, t := range r.Tables {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t\n", t.Table, t.Status, t.Rows, t.Chunks, t.Missing, t.Extra, t.Changed, t.Repaired, t.Unsettled)
	}
	tw.Flush()
	for _, t := range r.Tables {
		switch {
		case t.Reason != "":
			fmt.Fprintf(&b, "  %s: not comparable: %s\n", t.Table, t.Reason)
		case t.Error != "":
			fmt.Fprintf(&b, "  %s: error: %s\n", t.Table, t.Error)
		}
	}

	if len(r.Differences) > 0 {
		b.WriteString("\nDIFFERENCES\n")
		tw = tabwriter.NewWriter(&b, 2, 8, 2, ' ', 0)
		fmt.Fprintln(tw, "TABLE\tKEY\tKIND\tCOLUMNS\tREPAIR\t")
		for _, d := range r.Differences {
			repair := "not repaired"
			switch {
			case d.Repaired:
				repair = "repaired"
			case d.RepairError != "":
				repair = "failed: " + d.RepairError
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t\n", d.Table, d.Key, d.Kind, strings.Join(d.Columns, ", "), repair)
		}
		tw.Flush()
	}

	if len(r.Unsettled) > 0 {
		fmt.Fprintf(&b, "\nUNSETTLED: %d candidate difference(s) could not be settled and are NOT reported as drift.\n", len(r.Unsettled))
		b.WriteString("The target's applier checkpoint did not pass the source position in time; run again once replication has caught up.\n")
		for _, u := range r.Unsettled {
			fmt.Fprintf(&b, "  %s %s: %s\n", u.Table, u.Key, u.Reason)
		}
	}

	var pending []string
	for _, d := range r.Differences {
		if !d.Repaired && d.RepairSQL != "" {
			pending = append(pending, d.RepairSQL+";")
		}
	}
	if len(pending) > 0 {
		b.WriteString("\nREPAIR SQL (run on the target; sql_log_bin=0 keeps it out of replication)\n")
		b.WriteString("SET SESSION sql_log_bin = 0;\n")
		for _, q := range pending {
			b.WriteString(q)
			b.WriteByte('\n')
		}
	}

	s := r.Summary
	fmt.Fprintf(&b, "\n%d table(s), %d row(s) checked: %d difference(s) (%d missing, %d extra, %d changed), %d repaired, %d unsettled, %d not comparable, %d error(s)\n",
		s.Tables, s.Rows, s.Differences, s.Missing, s.Extra, s.Changed, s.Repaired, s.Unsettled, s.NotComparable, s.Errors)
	if _, err := w.Write(b.Bytes()); err != nil {
		return fmt.Errorf("write text report: %w", err)
	}
	return nil
}
