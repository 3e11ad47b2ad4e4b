package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/drc-dev/drc/config"
)

func newConfigCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Inspect drc configuration files",
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "check FILE",
		Short: "Validate a config file and print the effective config, secrets redacted",
		Long: `check loads FILE, applies DRC_* environment overrides and *_file secrets,
and validates every field. On success it prints the effective config with
secrets redacted and exits 0, after a warning on stderr for each setting
that is valid but weak (a MySQL or Kafka TLS mode weaker than
verify-identity, SASL to Kafka without TLS, a secret file others can read).
Otherwise it prints every problem, each naming its key and the allowed
values, and exits 2.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := loadConfig(args[0])
			if err != nil {
				return err
			}
			// Warnings are log records, like every line on stderr.
			log, err := newLogger(cfg.Log, cmd.ErrOrStderr())
			if err != nil {
				return &exitCodeError{exitError, err}
			}
			logConfigWarnings(log, cfg)
			fmt.Fprint(cmd.OutOrStdout(), cfg.Redacted())
			return nil
		},
	})
	return cmd
}

// loadConfig loads and validates a config file; its errors exit with 2.
func loadConfig(path string) (config.Config, error) {
	if path == "" {
		return config.Config{}, &exitCodeError{exitError, fmt.Errorf("--config is required")}
	}
	cfg, err := config.Load(path, os.LookupEnv)
	if err != nil {
		return config.Config{}, &exitCodeError{exitError, err}
	}
	if err := cfg.Validate(); err != nil {
		return config.Config{}, &exitCodeError{exitError, fmt.Errorf("config %s is invalid:\n%w", path, err)}
	}
	return cfg, nil
}
