// Package nodump keeps a process's memory to itself, as ssh-agent does: no
// core file is written if it crashes, and on Linux other processes of the
// same user cannot attach to it with ptrace or read its memory through
// /proc/<pid>/mem. credhost's hosts and plugins hold client secrets,
// refresh tokens and cache keys in memory; they call Enable first thing
// in main (sdk.Serve does it for plugins).
//
// It imports only syscall and x/sys, so that the fast front stays light.
package nodump

// Enable disables core dumps (RLIMIT_CORE 0, inherited by the processes
// this one starts) and, on Linux, marks the process not dumpable
// (PR_SET_DUMPABLE 0): ptrace attach and /proc/<pid>/mem, environ and
// fd are then refused to other processes of the user, though not to root.
// An exec resets dumpable for the new program, which must call Enable
// itself. On systems without these controls it does what it can and
// returns nil.
func Enable() error { return enable() }
