package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/drc-dev/drc/config"
	"github.com/drc-dev/drc/idgen"
	"github.com/drc-dev/drc/internal/httpserve"
)

func newIDGenCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "idgen",
		Short: "Region-bound Sonyflake ID service",
		Long: `idgen issues 63-bit IDs whose machine part is region bits | node bits.
Region bits come from the config, so regions never collide; node bits are
leased from drc_meta.idgen_leases in the region's own MySQL.`,
	}
	var path string
	serve := &cobra.Command{
		Use:   "serve --config FILE",
		Short: "Serve GET /v1/ids?count=N, GET /v1/ids/{id}, /healthz and /metrics",
		Long: `serve leases a node id, then answers on idgen.listen (HTTPS with
idgen.tls.cert and key, requiring client certificates with idgen.tls.client_ca):
  GET /v1/ids?count=N   N new IDs as decimal strings
  GET /v1/ids/{id}      an ID decomposed into time, region, node, sequence
  GET /healthz          lease and clock state (503 while not issuing)
  GET /metrics          Prometheus metrics
Leases live in idgen.mysql, or the source block when idgen.mysql.host is
empty. A node whose layout differs from the stored one refuses to start, and
so does one whose region number is stored in drc_meta.idgen_regions under
another region's name (or its name under another number).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(path)
			if err != nil {
				return err
			}
			icfg, err := idgenConfig(cfg)
			if err != nil {
				return &exitCodeError{exitError, err}
			}
			return runRole(cmd, cfg, func(rt *runtime) error {
				tc, err := httpserve.TLS(cfg.IDGen.TLS).Server()
				if err != nil {
					return fmt.Errorf("idgen.tls: %w", err)
				}
				srv, err := idgen.NewServer(icfg, rt.log, rt.reg)
				if err != nil {
					return err
				}
				ln, err := httpserve.Listen(icfg.Listen, tc)
				if err != nil {
					return fmt.Errorf("idgen.listen: %w", err)
				}
				if tc != nil {
					rt.log.Info("idgen API speaks HTTPS", "client_certificates", cfg.IDGen.TLS.ClientCA != "")
				}
				return srv.Serve(rt.ctx, ln)
			})
		},
	}
	serve.Flags().StringVar(&path, "config", "", "path of the drc YAML config (required)")

	var layoutPath string
	decompose := &cobra.Command{
		Use:   "decompose ID",
		Short: "Split an ID into time, region, node and sequence",
		Long: `decompose prints the parts of ID. The layout comes from --config when
given, else the default layout (1ms units, 12 sequence, 3 region, 7 node bits).
With --config, the region's name from idgen.regions follows its number:
region=1(eu-west). No database is read.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			layout := idgen.DefaultLayout()
			var names map[int]string
			if layoutPath != "" {
				cfg, err := loadConfig(layoutPath)
				if err != nil {
					return err
				}
				icfg, err := idgenSettings(cfg)
				if err != nil {
					return &exitCodeError{exitError, err}
				}
				layout, names = icfg.Layout(), icfg.RegionNames
			}
			id, err := idgen.ParseID(args[0])
			if err != nil {
				return &exitCodeError{exitError, err}
			}
			parts, err := idgen.Decompose(id, layout)
			if err != nil {
				return &exitCodeError{exitError, err}
			}
			parts.RegionName = names[parts.Region]
			fmt.Fprintln(cmd.OutOrStdout(), parts.String())
			return nil
		},
	}
	decompose.Flags().StringVar(&layoutPath, "config", "", "config whose idgen layout and region names to use (default: the default layout, no names)")
	decompose.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		// "-5" reaches the flag parser before the ID check: say what is
		// wrong with it as an ID, not as a flag.
		if _, arg, ok := strings.Cut(err.Error(), "unknown shorthand flag: "); ok {
			if i := strings.LastIndex(arg, " in "); i >= 0 {
				if v := arg[i+4:]; len(v) > 1 && v[0] == '-' && v[1] >= '0' && v[1] <= '9' {
					return &exitCodeError{exitError, fmt.Errorf("invalid ID %q: an ID is a non-negative integer", v)}
				}
			}
		}
		return err
	})
	cmd.AddCommand(serve, decompose)
	return cmd
}

// idgenLayout is the ID layout of the idgen section, for the roles that
// decode IDs without connecting to idgen's database (apply, reconcile
// --id-ranges, decompose).
func idgenLayout(c config.Config) (idgen.Layout, error) {
	ic, err := idgenSettings(c)
	if err != nil {
		return idgen.Layout{}, err
	}
	return ic.Layout(), nil
}

// idgenConfig is the idgen section as idgen.Config, with the DSN of the
// database the leases live in.
func idgenConfig(c config.Config) (idgen.Config, error) {
	ic, err := idgenSettings(c)
	if err != nil {
		return idgen.Config{}, err
	}
	db := c.IDGen.MySQL
	if db.Host == "" {
		db = c.Source
	}
	if ic.DSN, err = db.DSN(""); err != nil {
		return idgen.Config{}, fmt.Errorf("idgen mysql: %w", err)
	}
	return ic, nil
}

// idgenSettings is idgenConfig without the database.
func idgenSettings(c config.Config) (idgen.Config, error) {
	g := c.IDGen
	start, err := time.Parse(time.RFC3339, g.StartTime)
	if err != nil {
		return idgen.Config{}, fmt.Errorf("idgen.start_time: %w", err)
	}
	ic := idgen.DefaultConfig()
	ic.Region = c.IDGenRegionID()
	ic.RegionName = c.IDGenRegion()
	ic.RegionNames = make(map[int]string, len(g.Regions))
	for name, n := range g.Regions {
		ic.RegionNames[n] = name
	}
	ic.RegionBits, ic.NodeBits, ic.SequenceBits = g.RegionBits, g.NodeBits, g.SequenceBits
	ic.TimeUnit, ic.StartTime = g.TimeUnit, start
	ic.LeaseTTL, ic.RenewInterval = g.LeaseTTL, g.LeaseTTL/3
	ic.MaxClockWait, ic.BackwardBudget = g.MaxClockWait, g.BackwardBudget
	ic.MaxCount, ic.Listen, ic.Token = g.MaxCount, g.Listen, g.Token
	return ic, nil
}
