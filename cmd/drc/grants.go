package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/drc-dev/drc/applier"
	"github.com/drc-dev/drc/internal/grants"
)

func newGrantsCmd() *cobra.Command {
	var (
		flavor, account, config string
		roles, ddlKinds         []string
		repair, triggersFire    bool
		readOnly                bool
	)
	cmd := &cobra.Command{
		Use:   "grants",
		Short: "Print the GRANT statements each role's account needs",
		Long: `grants prints, for each role, the GRANT statements that give its account
exactly the privileges it checks at start (and nothing more): the same list
the role names when its preflight finds one missing.

Roles: ` + strings.Join(roleNames(), ", ") + `.
The dr role is what switchover, failover and failback need on each region
beyond the applier's privileges (they use the applier's account).

With --config, the applier's privileges follow the file's applier.ddl_kinds
and applier.triggers, and idgen's the idgen.mysql schema.`,
		Example: `  drc grants --flavor mysql --role replicator --account "'drc_rep'@'10.0.%'"
  drc grants --flavor mariadb --config /etc/drc/drc.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opt := grants.Options{DDLKinds: ddlKinds, Repair: repair, ReadOnly: readOnly}
			if triggersFire {
				opt.Triggers = applier.TriggersFire
			}
			if config != "" {
				cfg, err := loadConfig(config)
				if err != nil {
					return err
				}
				opt.DDLKinds, opt.Triggers = cfg.Applier.DDLKinds, cfg.Applier.Triggers
			}
			if opt.DDLKinds == nil {
				opt.DDLKinds = applier.DefaultDDLKinds()
			}
			if err := applier.CheckDDLKinds(opt.DDLKinds); err != nil {
				return &exitCodeError{exitError, fmt.Errorf("--ddl-kinds: %w", err)}
			}
			want := grants.Roles()
			if len(roles) > 0 {
				want = nil
				for _, r := range roles {
					if !slices.Contains(grants.Roles(), grants.Role(r)) {
						return &exitCodeError{exitError, fmt.Errorf("--role %q: want one of %s", r, strings.Join(roleNames(), ", "))}
					}
					want = append(want, grants.Role(r))
				}
			}
			out := cmd.OutOrStdout()
			for _, r := range want {
				need, err := grants.Need(r, flavor, opt)
				if err != nil {
					return &exitCodeError{exitError, fmt.Errorf("--flavor: %w", err)}
				}
				fmt.Fprintf(out, "-- %s (%s)\n", r, flavor)
				for _, s := range grants.Statements(need, account) {
					fmt.Fprintln(out, s+";")
				}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&flavor, "flavor", grants.MariaDB, "server flavor: mariadb (10.5+) or mysql (8.0+)")
	f.StringSliceVar(&roles, "role", nil, "roles to print (repeatable); default all")
	f.StringVar(&account, "account", "'drc'@'%'", "the account the statements grant to")
	f.StringSliceVar(&ddlKinds, "ddl-kinds", nil, "the applier's applier.ddl_kinds (default table,index,database)")
	f.BoolVar(&triggersFire, "triggers-fire", false, "the applier runs with applier.triggers: fire (it then needs no TRIGGER)")
	f.BoolVar(&repair, "repair", false, "reconcile-target: with --repair")
	f.BoolVar(&readOnly, "read-only", false, "applier: its target has read_only on (a DR standby), which it must write past")
	f.StringVar(&config, "config", "", "take the applier's ddl_kinds and triggers from this config file")
	return cmd
}

func roleNames() []string {
	var out []string
	for _, r := range grants.Roles() {
		out = append(out, string(r))
	}
	return out
}
