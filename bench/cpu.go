package bench

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// userHZ is the unit of the CPU times in /proc/<pid>/stat: USER_HZ, which
// Linux fixes at 100 for everything it exports to user space, whatever the
// kernel's own tick rate.
const userHZ = 100

// CPUProc is one process whose CPU time a CPUSpan measures. Pid 0 means the
// bench process itself, which hosts the in-process drc roles (and the bench's
// own pollers, a small share).
type CPUProc struct {
	Name string
	Pid  int
}

// CPUSpan is the CPU time (user + system, all threads) that a set of
// processes used between StartCPU and Stop.
type CPUSpan struct {
	procs []CPUProc
	start []time.Duration
}

// StartCPU reads the CPU time of every process now.
func StartCPU(procs ...CPUProc) (*CPUSpan, error) {
	s := &CPUSpan{procs: procs, start: make([]time.Duration, len(procs))}
	for i, p := range procs {
		t, err := processCPU(p.Pid)
		if err != nil {
			return nil, fmt.Errorf("cpu of %s: %w", p.Name, err)
		}
		s.start[i] = t
	}
	return s, nil
}

// Stop returns the CPU time each process used since StartCPU, in the order
// they were given.
func (s *CPUSpan) Stop() (CPUUse, error) {
	u := CPUUse{Procs: s.procs, Used: make([]time.Duration, len(s.procs))}
	for i, p := range s.procs {
		t, err := processCPU(p.Pid)
		if err != nil {
			return CPUUse{}, fmt.Errorf("cpu of %s: %w", p.Name, err)
		}
		u.Used[i] = t - s.start[i]
	}
	return u, nil
}

// CPUUse is what a CPUSpan measured.
type CPUUse struct {
	Procs []CPUProc
	Used  []time.Duration
}

// With returns u with one more process whose CPU time was measured
// otherwise (a child's, from its exec.Cmd's ProcessState).
func (u CPUUse) With(name string, used time.Duration) CPUUse {
	return CPUUse{
		Procs: append(append([]CPUProc(nil), u.Procs...), CPUProc{Name: name, Pid: -1}),
		Used:  append(append([]time.Duration(nil), u.Used...), used),
	}
}

// Of returns the CPU time of the named processes together.
func (u CPUUse) Of(names ...string) time.Duration {
	var d time.Duration
	for i, p := range u.Procs {
		for _, n := range names {
			if p.Name == n {
				d += u.Used[i]
			}
		}
	}
	return d
}

// PerMillion is the CPU seconds per 1,000,000 rows of the named processes
// together (all of them when names is empty).
func (u CPUUse) PerMillion(rows int, names ...string) float64 {
	if len(names) == 0 {
		for _, p := range u.Procs {
			names = append(names, p.Name)
		}
	}
	if rows <= 0 {
		return 0
	}
	return u.Of(names...).Seconds() * 1e6 / float64(rows)
}

// Describe lists each process's CPU seconds per 1M rows, e.g.
// "drc 2.31 + target mariadbd 3.02 CPU s/1M rows".
func (u CPUUse) Describe(rows int) string {
	parts := make([]string, len(u.Procs))
	for i, p := range u.Procs {
		parts[i] = fmt.Sprintf("%s %.2f", p.Name, u.PerMillion(rows, p.Name))
	}
	return strings.Join(parts, " + ") + " CPU s/1M rows"
}

// processCPU returns utime+stime of a process: the bench process itself
// (pid 0) from getrusage, any other from /proc/<pid>/stat. Children's times
// are not counted: every measured process is a server or the bench itself.
func processCPU(pid int) (time.Duration, error) {
	if pid == 0 {
		var ru syscall.Rusage
		if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
			return 0, fmt.Errorf("getrusage: %w", err)
		}
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), nil
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	return parseStatCPU(string(b))
}

// parseStatCPU reads utime and stime (fields 14 and 15) from the text of
// /proc/<pid>/stat. The command name (field 2) is in parentheses and may
// hold spaces and parentheses, so fields are counted after the last ')'.
func parseStatCPU(stat string) (time.Duration, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc stat %.40q: no command name", stat)
	}
	f := strings.Fields(stat[i+1:])
	// f[0] is field 3 (state); utime is field 14, stime field 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc stat: %d fields after the command name, want at least 13", len(f))
	}
	var ticks int64
	for _, s := range f[11:13] {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc stat: cpu time %q: %w", s, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / userHZ, nil
}

// MachineSpan measures how busy the whole machine is, from /proc/stat.
type MachineSpan struct{ busy, total uint64 }

// StartMachineCPU starts measuring the machine's busy share.
func StartMachineCPU() (*MachineSpan, error) {
	b, t, err := machineJiffies()
	if err != nil {
		return nil, err
	}
	return &MachineSpan{busy: b, total: t}, nil
}

// Stop returns the share of all cores' time, 0 to 1, that was not idle
// (idle and iowait) since StartMachineCPU.
func (m *MachineSpan) Stop() (float64, error) {
	b, t, err := machineJiffies()
	if err != nil {
		return 0, err
	}
	if t <= m.total {
		return 0, nil
	}
	return float64(b-m.busy) / float64(t-m.total), nil
}

// machineJiffies reads the aggregate cpu line of /proc/stat: the busy and
// total jiffies of all cores.
func machineJiffies() (busy, total uint64, err error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	return parseProcStatCPU(line)
}

// parseProcStatCPU parses "cpu user nice system idle iowait irq softirq
// steal ...": user, nice, system, irq and softirq are busy; idle, iowait
// and steal (time the hypervisor gave to others) are not (guest time is
// already inside user).
func parseProcStatCPU(line string) (busy, total uint64, err error) {
	f := strings.Fields(line)
	if len(f) < 5 || f[0] != "cpu" {
		return 0, 0, fmt.Errorf("/proc/stat: want an aggregate cpu line, got %.60q", line)
	}
	for i, s := range f[1:] {
		if i >= 8 { // guest and guest_nice are counted in user and nice
			break
		}
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("/proc/stat: field %d: %w", i+1, err)
		}
		total += n
		if i != 3 && i != 4 && i != 7 {
			busy += n
		}
	}
	return busy, total, nil
}
