// Command drcbench runs drc's benchmark suites against real servers it starts
// itself and prints one table of figures and ratios (`make bench`).
//
//	go run ./bench/cmd/drcbench [-rows N] [-run REGEXP] [-list]
//
// DRC_BENCH_ROWS sets the default dataset size (1,000,000).
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"regexp"
	"runtime/pprof"
	"strconv"
	"syscall"

	"github.com/drc-dev/drc/bench"
	"github.com/drc-dev/drc/integration/harness"
)

const defaultRows = 1_000_000

func main() { os.Exit(run()) }

func run() int {
	logger := log.New(os.Stderr, "drcbench: ", log.Ltime)
	rows := defaultRows
	if v := os.Getenv("DRC_BENCH_ROWS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			logger.Printf("DRC_BENCH_ROWS: want a positive integer, got %q", v)
			return 2
		}
		rows = n
	}
	flag.IntVar(&rows, "rows", rows, "dataset size in rows (default from DRC_BENCH_ROWS, else 1000000)")
	only := flag.String("run", "", "run only suites whose name matches this regexp")
	list := flag.Bool("list", false, "list the suites and exit")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	flag.Parse()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			logger.Printf("-cpuprofile: %v", err)
			return 2
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			logger.Printf("-cpuprofile: %v", err)
			return 2
		}
		defer pprof.StopCPUProfile()
	}
	if rows <= 0 {
		logger.Printf("-rows: want a positive integer, got %d", rows)
		return 2
	}
	var match *regexp.Regexp
	if *only != "" {
		var err error
		if match, err = regexp.Compile(*only); err != nil {
			logger.Printf("-run: %v", err)
			return 2
		}
	}
	var suites []bench.Suite
	for _, s := range bench.Suites() {
		if match == nil || match.MatchString(s.Name) {
			suites = append(suites, s)
		}
	}
	if *list {
		for _, s := range suites {
			fmt.Println(s.Name)
		}
		return 0
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	h, err := harness.NewEnv()
	if err != nil {
		logger.Printf("%v", err)
		return 2
	}
	defer h.Close()
	env := bench.NewEnv(h, rows, logger.Printf)
	defer env.Close()
	if err := env.Do(h.Ensure); err != nil {
		logger.Printf("%v", err)
		return 2
	}
	if err := bench.Run(ctx, env, suites, os.Stdout); err != nil {
		logger.Printf("%v", err)
		return 2
	}
	return 0
}
