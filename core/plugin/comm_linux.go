package plugin

import (
	"os"
	"path/filepath"
)

// fixComm names the process after its binary again. A plugin started from
// /proc/self/fd/3 (exec.go) gets "3" as its kernel name, which ps -e, top
// and /proc/<pid>/comm show. It writes the thread group leader's name,
// which those show, and must run before nodump makes /proc/self root's.
func fixComm() {
	if os.Getenv(execFDEnv) == "" {
		return
	}
	name := filepath.Base(os.Args[0])
	if len(name) > 15 { // TASK_COMM_LEN - 1
		name = name[:15]
	}
	_ = os.WriteFile("/proc/self/comm", []byte(name), 0)
}
