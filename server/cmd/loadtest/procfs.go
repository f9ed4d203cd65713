package main

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// What a process costs is read from /proc, the same way for the gateway and the floor: CPU time (user and
// system, all threads) and resident memory. The cores' load comes from /proc/stat, so that what the other
// processes on the machine did during a run is on record beside it.

// clockTicks is USER_HZ, the unit of /proc's CPU times: 100 on every Linux architecture Go supports.
const clockTicks = 100

// processCPU is the CPU time pid has used so far, user and system, all threads.
func processCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) is in parentheses and may contain spaces: count fields after the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	// After the name: state is field 3, utime field 14 and stime field 15 of the whole line.
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: bad CPU times", pid)
	}
	return time.Duration(utime+stime) * time.Second / clockTicks, nil
}

// processRSS is pid's resident memory in bytes.
func processRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest)
			if len(f) == 2 && f[1] == "kB" {
				kb, err := strconv.ParseInt(f[0], 10, 64)
				return kb << 10, err
			}
		}
	}
	return 0, fmt.Errorf("/proc/%d/status: no VmRSS", pid)
}

// coreTimes are the cumulative busy and total times of each CPU, in ticks, from /proc/stat.
type coreTimes map[int][2]int64

func readCoreTimes() (coreTimes, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return nil, err
	}
	out := coreTimes{}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 9 || !strings.HasPrefix(f[0], "cpu") || f[0] == "cpu" {
			continue
		}
		cpu, err := strconv.Atoi(f[0][3:])
		if err != nil {
			continue
		}
		// user nice system idle iowait irq softirq steal: idle and iowait are the idle part.
		var total, idle int64
		for j, v := range f[1:9] {
			n, _ := strconv.ParseInt(v, 10, 64)
			total += n
			if j == 3 || j == 4 {
				idle += n
			}
		}
		out[cpu] = [2]int64{total - idle, total}
	}
	return out, nil
}

// busy is each core's busy fraction between two readings.
func busy(before, after coreTimes) map[int]float64 {
	out := map[int]float64{}
	for cpu, a := range after {
		b := before[cpu]
		if total := a[1] - b[1]; total > 0 {
			out[cpu] = float64(a[0]-b[0]) / float64(total)
		}
	}
	return out
}

// machineLoad is /proc/loadavg's one-minute load average.
func machineLoad() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	if f := strings.Fields(string(b)); len(f) > 0 {
		return f[0]
	}
	return "?"
}
