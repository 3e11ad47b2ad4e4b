package reconcile

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// WriteJSON writes the report as one indented JSON document.
func (r *IDRangesReport) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(r); err != nil {
		return fmt.Errorf("write json report: %w", err)
	}
	return nil
}

// WriteText writes the report for people: per side and column, its groups,
// each marked ok, FOREIGN or NOT A DRC ID, with counts, the times of the
// first and last ID, and the smallest and largest value.
func (r *IDRangesReport) WriteText(w io.Writer) error {
	var b bytes.Buffer
	pair := "one-way pair"
	if r.TwoWay {
		pair = "two-way pair"
	}
	fmt.Fprintf(&b, "drc reconcile --id-ranges (%s; IDs allowed on both sides: %s) in %s\n",
		pair, regionList(r.Allowed), r.FinishedAt.Sub(r.StartedAt).Round(time.Millisecond))
	for _, s := range r.Sides {
		fmt.Fprintf(&b, "\n%s: region %s (%d), layout from %s: %s\n", s.Side, s.Region, s.RegionID, s.LayoutFrom, s.Layout)
		if len(s.Columns) == 0 {
			b.WriteString("  no table with ID columns\n")
		}
		for _, c := range s.Columns {
			fmt.Fprintf(&b, "  %s.%s: ", c.Table, c.Column)
			switch {
			case c.Error != "":
				fmt.Fprintf(&b, "error: %s\n", c.Error)
				continue
			case c.Rows == 0:
				b.WriteString("no values\n")
				continue
			}
			fmt.Fprintf(&b, "%d value(s), %d foreign, %d not a drc id\n", c.Rows, c.Foreign, c.NotDRC)
			tw := tabwriter.NewWriter(&b, 2, 8, 2, ' ', 0)
			fmt.Fprintln(tw, "    STATUS\tREGION\tNODE\tCOUNT\tFIRST\tLAST\tMIN ID\tMAX ID\t")
			for _, g := range c.Groups {
				fmt.Fprintf(tw, "    %s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t\n", statusLabel(g.Status), regionLabel(g), nodeLabel(g),
					g.Count, timeLabel(g.FirstTime), timeLabel(g.LastTime), g.MinID, g.MaxID)
			}
			tw.Flush()
		}
	}
	s := r.Summary
	fmt.Fprintf(&b, "\n%d column(s), %d value(s): %d foreign, %d not a drc id, %d error(s)\n",
		s.Columns, s.Rows, s.Foreign, s.NotDRC, s.Errors)
	if _, err := w.Write(b.Bytes()); err != nil {
		return fmt.Errorf("write text report: %w", err)
	}
	return nil
}

func statusLabel(s IDStatus) string {
	switch s {
	case IDForeign:
		return "FOREIGN"
	case IDNotDRC:
		return "NOT A DRC ID"
	}
	return "ok"
}

// regionLabel is "name (n)", or "n (no such region)" for a number that
// idgen.regions gives no region.
func regionLabel(g IDGroup) string {
	switch {
	case g.Region == nil:
		return "-"
	case g.RegionName == "":
		return strconv.Itoa(*g.Region) + " (no such region)"
	}
	return fmt.Sprintf("%s (%d)", g.RegionName, *g.Region)
}

func nodeLabel(g IDGroup) string {
	if g.Node == nil {
		return "-"
	}
	return strconv.Itoa(*g.Node)
}

func timeLabel(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

func regionList(rs []RegionRef) string {
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = fmt.Sprintf("%s (%d)", r.Name, r.ID)
	}
	return strings.Join(parts, ", ")
}
