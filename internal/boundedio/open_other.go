//go:build !unix

package boundedio

// openFlags: opening a named pipe does not wait for a writer here.
const openFlags = 0
