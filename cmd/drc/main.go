// Command drc is the single binary of the drc replication service. It only
// parses flags, loads the config and wires library packages together; each
// role's logic lives in its own package.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// Exit codes shared by every subcommand (DESIGN.md contract).
const (
	exitOK      = 0
	exitProblem = 1 // the command worked and found a problem (drift, lag over a limit)
	exitError   = 2 // bad input or an error
)

// exitCodeError lets a subcommand choose the exit code for its outcome.
type exitCodeError struct {
	code int
	err  error
}

// loggedError is an error already written to the role's log as a record;
// it is not printed again as a plain line, so a JSON log stays JSON.
type loggedError struct{ err error }

func (e *loggedError) Error() string { return e.err.Error() }
func (e *loggedError) Unwrap() error { return e.err }

func (e *exitCodeError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit code %d", e.code)
	}
	return e.err.Error()
}
func (e *exitCodeError) Unwrap() error { return e.err }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := newRootCmd(stdout, stderr)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	var ec *exitCodeError
	if errors.As(err, &ec) {
		var le *loggedError
		if ec.err != nil && !errors.As(ec.err, &le) {
			writeFatal(stderr, ec.err)
		}
		return ec.code
	}
	writeFatal(stderr, err)
	return exitError
}

func newRootCmd(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "drc",
		Short: "Cross-region replication for MySQL and MariaDB",
		Long: `drc replicates MySQL and MariaDB between regions through Kafka, exactly once.

Every role reads the same YAML config (see deploy/drc.example.yaml); DRC_*
environment variables override any key, e.g. DRC_KAFKA_BROKERS.

Exit codes: 0 ok, 1 the command worked and found a problem, 2 bad input or an error.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(
		newVersionCmd(),
		newConfigCmd(),
		newReplicateCmd(),
		newApplyCmd(),
		newIDGenCmd(),
		newReconcileCmd(),
		newBootstrapCmd(),
		newStatusCmd(),
		newGrantsCmd(),
		newSwitchoverCmd(),
		newFailoverCmd(),
		newFailbackCmd(),
	)
	return root
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print drc's version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintf(cmd.OutOrStdout(), "drc %s\n", version)
			return nil
		},
	}
}
