package status

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// WriteJSON writes rep as indented JSON.
func WriteJSON(w io.Writer, rep Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(rep); err != nil {
		return fmt.Errorf("write the status as JSON: %w", err)
	}
	return nil
}

// WriteText writes rep for a person: the verdict and its reasons first,
// then the source, Kafka with one line per partition, and the target.
func WriteText(w io.Writer, rep Report) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	line := func(format string, args ...any) { fmt.Fprintf(tw, format+"\n", args...) }
	line("PIPELINE %s: %s -> %s\t%s", rep.Cluster, rep.Source.Region, rep.Target.Region, strings.ToUpper(string(rep.Health)))
	for _, r := range rep.Reasons {
		line("  ! %s", r)
	}
	line("")

	s := rep.Source
	line("SOURCE %s (%s)", s.Region, s.Endpoint)
	line("  position\t%s", dash(s.Position))
	pub := dash(s.Published)
	if s.PublishedAt != nil {
		pub += fmt.Sprintf(" (committed %s, publish lag %s)", stamp(*s.PublishedAt), secs(s.PublishLagSeconds))
	}
	line("  published\t%s", pub)
	line("  heartbeat age\t%s", secs(s.HeartbeatAgeSeconds))
	horizon := secs(s.PurgeHorizonSeconds)
	if s.PurgeHorizonNever {
		horizon = "never (binlogs do not expire by age)"
	}
	line("  purge horizon\t%s", horizon)
	if s.Error != "" {
		line("  error\t%s", s.Error)
	}

	k := rep.Kafka
	line("KAFKA %s topic %s", k.Brokers, k.Topic)
	if k.Reachable {
		line("  reachable\tyes")
	} else {
		line("  reachable\tno: %s", k.Error)
	}
	tw.Flush()
	if len(rep.Partitions) > 0 {
		pw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(pw, "  PART\tHIGH WATERMARK\tCHECKPOINT\tRECORDS BEHIND\tTXNS BEHIND\tOLDEST UNAPPLIED\tCAUGHT UP")
		for _, p := range rep.Partitions {
			oldest := "-"
			if p.OldestUnappliedAt != nil {
				oldest = fmt.Sprintf("%s ago", seconds(max(0, rep.CheckedAt.Sub(*p.OldestUnappliedAt).Seconds())))
			}
			fmt.Fprintf(pw, "  %d\t%d\t%s\t%s\t%s\t%s\t%s\n", p.Partition, p.HighWatermark, num(p.CheckpointOffset),
				num(p.RecordsBehind), num(p.TransactionsBehind), oldest, yesNo(p.CaughtUp))
		}
		pw.Flush()
	}

	t := rep.Target
	line("TARGET %s (%s)", t.Region, t.Endpoint)
	line("  position\t%s", dash(t.Position))
	cp := "-"
	for i, c := range t.Checkpoint {
		if i == 0 {
			cp = ""
		} else {
			cp += " "
		}
		cp += fmt.Sprintf("p%d:%s@%d", c.Part, c.GTIDSet, c.Offset)
	}
	line("  checkpoint\t%s", cp)
	line("  behind\t%s records, %s source transactions", num(t.RecordsBehind), num(t.TransactionsBehind))
	line("  lag\t%s (end to end: the newest source heartbeat applied)", secs(t.LagSeconds))
	line("  caught up\t%s (rule: nothing unapplied older than %s)", yesNo(t.CaughtUp), seconds(t.CaughtUpWithinSeconds))
	if c := t.Conflicts; c != nil {
		text := fmt.Sprintf("%d in the last %s, %d in all", c.Recent, seconds(c.WindowSeconds), c.Total)
		if n := c.Newest; n != nil {
			text += fmt.Sprintf("; newest %s on %s: %s, %s", stamp(n.At), n.Table, n.Kind, n.Resolution)
		}
		line("  conflicts\t%s", text)
	} else {
		line("  conflicts\t-")
	}
	if e := t.LastError; e != nil {
		state := "before the last checkpoint: the applier has run since"
		if t.Stopped {
			state = "the applier has not applied anything since"
		}
		line("  last error\t%s (%s): %s", stamp(e.At), state, e.Error)
	} else {
		line("  last error\t-")
	}
	if t.Error != "" {
		line("  error\t%s", t.Error)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write the status: %w", err)
	}
	return nil
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func secs(v *float64) string {
	if v == nil {
		return "-"
	}
	return seconds(*v)
}

func num(v *int64) string {
	if v == nil {
		return "-"
	}
	return fmt.Sprint(*v)
}

func yesNo(b *bool) string {
	switch {
	case b == nil:
		return "unknown"
	case *b:
		return "yes"
	}
	return "no"
}

func stamp(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05.000Z") }
