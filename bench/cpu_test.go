package bench

import (
	"os"
	"testing"
	"time"
)

func TestParseStatCPU(t *testing.T) {
	// A command name with a space and a parenthesis; utime 250, stime 50.
	stat := "4242 (my (odd) proc) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 7 0 1234 5678 90 18446744073709551615"
	got, err := parseStatCPU(stat)
	if err != nil {
		t.Fatal(err)
	}
	if want := 3 * time.Second; got != want {
		t.Errorf("parseStatCPU = %v, want %v", got, want)
	}
	if _, err := parseStatCPU("4242 (short) S 1 2"); err == nil {
		t.Error("parseStatCPU of a short line: no error")
	}
}

func TestCPUSpanCountsWork(t *testing.T) {
	s, err := StartCPU(CPUProc{Name: "bench", Pid: 0}, CPUProc{Name: "self via /proc", Pid: os.Getpid()})
	if err != nil {
		t.Fatal(err)
	}
	// Spin until /proc (10 ms ticks) shows at least 20 ms of CPU more.
	before, err := processCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	for x := 0; ; x++ {
		if x%100000 == 0 {
			if d, _ := processCPU(os.Getpid()); d-before >= 20*time.Millisecond {
				break
			}
		}
	}
	u, err := s.Stop()
	if err != nil {
		t.Fatal(err)
	}
	if u.Of("bench") <= 0 || u.Of("self via /proc") <= 0 {
		t.Errorf("no CPU counted: %v", u.Used)
	}
	if got := u.PerMillion(500_000, "bench"); got != 2*u.Of("bench").Seconds() {
		t.Errorf("PerMillion(500000) = %v, want twice %v", got, u.Of("bench").Seconds())
	}
}

func TestParseProcStatCPU(t *testing.T) {
	busy, total, err := parseProcStatCPU("cpu  100 5 50 800 40 3 2 1 7 0")
	if err != nil {
		t.Fatal(err)
	}
	// user+nice+system+irq+softirq = 160 busy; steal (1) is not, and
	// guest (7) is inside user.
	if busy != 160 || total != 1001 {
		t.Errorf("busy, total = %d, %d; want 160, 1001", busy, total)
	}
	if _, _, err := parseProcStatCPU("cpu0 1 2 3 4"); err == nil {
		t.Error("a per-core line was accepted as the aggregate")
	}
}
