package identityendpoint

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
)

// littleEndian is true on little-endian machines (for /proc/net/tcp).
var littleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// ownUID is the uid the server runs as.
func ownUID() int { return os.Getuid() }

// sameUser checks that the peer of c, a loopback TCP connection, is a
// socket owned by the server's uid. The kernel lists every TCP socket of
// the network namespace in /proc/net/tcp{,6} with its owner; the peer's
// socket is the one whose local address is c's remote address and whose
// remote address is c's local address.
func (s *Server) sameUser(c net.Conn) error {
	remote, ok1 := c.RemoteAddr().(*net.TCPAddr)
	local, ok2 := c.LocalAddr().(*net.TCPAddr)
	if !ok1 || !ok2 {
		return errors.New("not a TCP connection")
	}
	uid, err := socketOwner(remote, local)
	if err != nil {
		return fmt.Errorf("cannot tell which user is asking (%v): refused", err)
	}
	if uid != s.uid {
		return fmt.Errorf("the request comes from uid %d; this endpoint serves uid %d only", uid, s.uid)
	}
	return nil
}

// socketOwner finds the uid owning the TCP socket local→remote.
func socketOwner(local, remote *net.TCPAddr) (int, error) {
	for _, table := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		uid, err := findSocket(table, local, remote)
		if err == nil {
			return uid, nil
		}
		if !errors.Is(err, errNotFound) {
			return 0, err
		}
	}
	return 0, errors.New("the peer's socket is not in /proc/net/tcp")
}

var errNotFound = errors.New("not found")

// findSocket scans one /proc/net/tcp table. Each line is "sl local_address
// rem_address st tx:rx tr:when retrnsmt uid timeout inode ...", addresses
// as hex IP (in host-endian 32-bit words) ':' hex port.
func findSocket(table string, local, remote *net.TCPAddr) (int, error) {
	f, err := os.Open(table)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Scan() // header
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 8 {
			continue
		}
		if !sameAddr(fields[1], local) || !sameAddr(fields[2], remote) {
			continue
		}
		return strconv.Atoi(fields[7])
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, errNotFound
}

// sameAddr reports whether the /proc/net/tcp address field names a.
func sameAddr(field string, a *net.TCPAddr) bool {
	ipHex, portHex, ok := strings.Cut(field, ":")
	if !ok {
		return false
	}
	port, err := strconv.ParseUint(portHex, 16, 16)
	if err != nil || int(port) != a.Port {
		return false
	}
	raw, err := hex.DecodeString(ipHex)
	if err != nil || len(raw)%4 != 0 {
		return false
	}
	// Each 32-bit word is in host byte order (little-endian on every
	// Linux Go runs on but s390x/ppc64/mips, where it is already right).
	if littleEndian {
		for i := 0; i < len(raw); i += 4 {
			raw[i], raw[i+1], raw[i+2], raw[i+3] = raw[i+3], raw[i+2], raw[i+1], raw[i]
		}
	}
	return net.IP(raw).Equal(a.IP)
}
