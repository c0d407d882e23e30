package binpath

import "os"

// executable is true: Windows has no execute bit; callers pass names with
// their .exe.
func executable(os.FileInfo) bool { return true }
