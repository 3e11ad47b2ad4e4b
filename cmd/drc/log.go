package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/drc-dev/drc/config"
)

// newLogger builds the process logger: text on a terminal, JSON otherwise,
// unless log.format says which. Every line drc writes to stderr is one of
// its records, so a log collector reading JSON never meets a plain line;
// only a terminal shows a progress bar (see progressOut).
func newLogger(c config.Log, w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.Level)); err != nil {
		return nil, fmt.Errorf("log.level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: level}
	format := c.Format
	if format == "auto" {
		format = "json"
		if writerIsTerminal(w) {
			format = "text"
		}
	}
	if format == "text" {
		return slog.New(slog.NewTextHandler(w, opts)), nil
	}
	return slog.New(slog.NewJSONHandler(w, opts)), nil
}

func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// writerIsTerminal reports whether w is a terminal (a person reading).
func writerIsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && isTerminal(f)
}

// progressOut is where a progress bar is drawn: stderr when it is a
// terminal, else nil, and progress is logged as records instead.
func progressOut(stderr io.Writer) io.Writer {
	if writerIsTerminal(stderr) {
		return stderr
	}
	return nil
}

// writeFatal writes the error a command ended with, before it was logged
// by a role (a config that does not load, a bad flag, a one-shot command's
// failure): on a terminal as the plain line "drc: …" a person reads, else
// as a JSON record, so that stderr stays JSON to its last line.
func writeFatal(w io.Writer, err error) {
	if writerIsTerminal(w) {
		fmt.Fprintf(w, "drc: %v\n", err)
		return
	}
	slog.New(slog.NewJSONHandler(w, nil)).Error("drc stopped", "error", err)
}

// logConfigWarnings logs each setting that is valid but weak.
func logConfigWarnings(log *slog.Logger, cfg config.Config) {
	for _, w := range cfg.Warnings() {
		log.Warn("config: " + w)
	}
}
