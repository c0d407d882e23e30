//go:build race

package file

const raceNote = " (race detector on: RSS includes its shadow memory)"
