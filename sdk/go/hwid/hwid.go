// Package hwid reads the machine's hardware identity: fingerprint components hashed exactly as the
// service's licensing/client/fingerprint.ts hashes them (so the service's "most match" works), and the
// design's GenerateHWID, a stable id derived from them.
//
// Sources per platform (what Read looks at; a component that cannot be read is left out):
//
//	component   Linux                                        macOS                          Windows
//	machine_id  /etc/machine-id, /var/lib/dbus/machine-id    IOPlatformUUID (ioreg)         HKLM\SOFTWARE\Microsoft\Cryptography MachineGuid
//	mac         /sys/class/net/*/address of physical NICs    net.Interfaces() (en*)          net.Interfaces() (non-virtual)
//	            (those with a /sys/class/net/*/device link)
//	cpu         /proc/cpuinfo "model name" + "cpu family"    sysctl machdep.cpu.brand_string wmic cpu get ProcessorId
//	disk        /sys/block/*/device/serial, …/wwid            ioreg IOPlatformSerialNumber    wmic diskdrive get SerialNumber
//	hostname    os.Hostname()                                os.Hostname()                  os.Hostname()
//
// Only the Linux sources are implemented and tested here; on other systems Read falls back to the
// portable ones (MACs from net.Interfaces, hostname) and SongMartyn passes the rest through Options.Extra.
// Containers and cloned VM images share a machine id: set Options.Override (or SMSTATS_HWID in the host
// program) to a value unique per install.
package hwid

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
)

// Components maps a component name (machine_id, mac, cpu, disk, hostname) to its hashed value.
type Components map[string]string

// Options changes where Read looks.
type Options struct {
	// Override replaces every read component with one "override" component and makes GenerateHWID
	// return a hash of it: for containers and cloned VM images, whose machine ids are shared.
	Override string
	// Root prefixes the Linux paths read (/etc, /sys, /proc); "" is the real root. For tests.
	Root string
	// Extra raw components added as they are (hashed like the others), e.g. a macOS IOPlatformUUID.
	Extra map[string]string
}

// ErrNoComponents means nothing identifying could be read and no override was given.
var ErrNoComponents = errors.New("hwid: no hardware component readable; set an override")

// HashComponent is the hex sha256 of "name\n" + the trimmed, lower-cased raw value: the scheme of
// licensing/client/fingerprint.ts hashComponent, so raw values never leave the machine.
func HashComponent(name, raw string) string {
	sum := sha256.Sum256([]byte(name + "\n" + strings.ToLower(strings.TrimSpace(raw))))
	return hex.EncodeToString(sum[:])
}

// Digest is one digest of a whole fingerprint (sorted "name=value" lines), as fingerprintDigest in
// licensing/client: equal digests are the same machine. Leases carry it as "fp".
func (c Components) Digest() string {
	names := make([]string, 0, len(c))
	for n := range c {
		names = append(names, n)
	}
	sort.Strings(names)
	lines := make([]string, len(names))
	for i, n := range names {
		lines[i] = n + "=" + c[n]
	}
	sum := sha256.Sum256([]byte(strings.Join(lines, "\n")))
	return hex.EncodeToString(sum[:])
}

// Read collects the machine's components, each hashed with HashComponent.
func Read(opts Options) (Components, error) {
	raw := readRaw(opts)
	if opts.Override != "" {
		raw = map[string]string{"override": opts.Override}
	}
	for k, v := range opts.Extra {
		if strings.TrimSpace(v) != "" {
			raw[k] = v
		}
	}
	if len(raw) == 0 {
		return nil, ErrNoComponents
	}
	out := make(Components, len(raw))
	for k, v := range raw {
		out[k] = HashComponent(k, v)
	}
	return out, nil
}

// GenerateHWID is the design's stable hardware id: the fingerprint digest of the stable components
// (machine id, physical MACs, CPU, disk; the hostname is left out because people rename machines), or
// of the override. It is what registration sends as hwid.
func GenerateHWID(opts Options) (string, error) {
	c, err := Read(opts)
	if err != nil {
		return "", err
	}
	stable := Components{}
	for k, v := range c {
		if k != "hostname" {
			stable[k] = v
		}
	}
	if len(stable) == 0 {
		stable = c
	}
	return stable.Digest()[:32], nil
}

func readRaw(opts Options) map[string]string {
	raw := map[string]string{}
	if runtime.GOOS == "linux" {
		for _, p := range []string{"/etc/machine-id", "/var/lib/dbus/machine-id"} {
			if v := readTrim(filepath.Join(opts.Root, p)); v != "" {
				raw["machine_id"] = v
				break
			}
		}
		if v := linuxCPU(opts.Root); v != "" {
			raw["cpu"] = v
		}
		if v := linuxDisk(opts.Root); v != "" {
			raw["disk"] = v
		}
		if v := linuxMACs(opts.Root); v != "" {
			raw["mac"] = v
		}
	}
	if _, ok := raw["mac"]; !ok && opts.Root == "" {
		if v := portableMACs(); v != "" {
			raw["mac"] = v
		}
	}
	if opts.Root == "" {
		if h, err := os.Hostname(); err == nil && h != "" {
			raw["hostname"] = h
		}
	} else if v := readTrim(filepath.Join(opts.Root, "/etc/hostname")); v != "" {
		raw["hostname"] = v
	}
	return raw
}

func readTrim(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// linuxMACs: the sorted MACs of interfaces backed by a device (physical), so bridges, veths and VPN
// tunnels, which come and go, do not change the fingerprint.
func linuxMACs(root string) string {
	dir := filepath.Join(root, "/sys/class/net")
	entries, err := os.ReadDir(dir)
	if err != nil {
		return ""
	}
	var macs []string
	for _, e := range entries {
		if _, err := os.Stat(filepath.Join(dir, e.Name(), "device")); err != nil {
			continue
		}
		mac := readTrim(filepath.Join(dir, e.Name(), "address"))
		if mac != "" && mac != "00:00:00:00:00:00" {
			macs = append(macs, mac)
		}
	}
	sort.Strings(macs)
	return strings.Join(macs, ",")
}

func portableMACs() string {
	ifs, err := net.Interfaces()
	if err != nil {
		return ""
	}
	var macs []string
	for _, i := range ifs {
		if i.Flags&net.FlagLoopback != 0 || len(i.HardwareAddr) == 0 {
			continue
		}
		macs = append(macs, i.HardwareAddr.String())
	}
	sort.Strings(macs)
	return strings.Join(macs, ",")
}

func linuxCPU(root string) string {
	b, err := os.ReadFile(filepath.Join(root, "/proc/cpuinfo"))
	if err != nil {
		return ""
	}
	var model, family string
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		switch strings.TrimSpace(k) {
		case "model name":
			if model == "" {
				model = strings.TrimSpace(v)
			}
		case "cpu family":
			if family == "" {
				family = strings.TrimSpace(v)
			}
		}
	}
	if model == "" {
		return ""
	}
	return model + "/" + family
}

func linuxDisk(root string) string {
	dir := filepath.Join(root, "/sys/block")
	entries, err := os.ReadDir(dir)
	if err != nil {
		return ""
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	for _, n := range names {
		if strings.HasPrefix(n, "loop") || strings.HasPrefix(n, "ram") || strings.HasPrefix(n, "zram") {
			continue
		}
		for _, f := range []string{"device/serial", "serial", "device/wwid", "wwid"} {
			if v := readTrim(filepath.Join(dir, n, f)); v != "" {
				return v
			}
		}
	}
	return ""
}
