//go:build !race

package file

const raceNote = ""
