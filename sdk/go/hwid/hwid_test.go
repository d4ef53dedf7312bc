package hwid

import (
	"os"
	"path/filepath"
	"testing"
)

// The values below are what licensing/client/fingerprint.ts computes for the same input
// (node -e 'console.log(require("./licensing/client/fingerprint.ts").hashComponent(...))').
func TestHashComponentMatchesTheServiceScheme(t *testing.T) {
	cases := []struct{ name, raw, want string }{
		{"machine_id", "mid-a", wantMachineIDA},
		{"mac", "  AA:BB:CC:00:11:22 ", wantMacUpper},
	}
	for _, c := range cases {
		if got := HashComponent(c.name, c.raw); got != c.want {
			t.Errorf("HashComponent(%q, %q) = %s, want %s", c.name, c.raw, got, c.want)
		}
	}
	if got := (Components{"b": "2", "a": "1"}).Digest(); got != wantDigestAB {
		t.Errorf("Digest = %s, want %s", got, wantDigestAB)
	}
}

func write(t *testing.T, root, path, content string) {
	t.Helper()
	full := filepath.Join(root, path)
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func fakeLinux(t *testing.T) string {
	root := t.TempDir()
	write(t, root, "/etc/machine-id", "0123456789abcdef0123456789abcdef\n")
	write(t, root, "/etc/hostname", "karaoke-bar\n")
	write(t, root, "/proc/cpuinfo", "processor\t: 0\ncpu family\t: 6\nmodel name\t: Intel(R) Core(TM) i5\n")
	write(t, root, "/sys/block/loop0/serial", "ignored")
	write(t, root, "/sys/block/sda/device/serial", "WD-12345\n")
	write(t, root, "/sys/class/net/eth0/address", "aa:bb:cc:dd:ee:01\n")
	write(t, root, "/sys/class/net/eth0/device/x", "")
	write(t, root, "/sys/class/net/veth9/address", "aa:bb:cc:dd:ee:99\n")
	return root
}

func TestReadTakesLinuxSourcesAndOnlyPhysicalInterfaces(t *testing.T) {
	root := fakeLinux(t)
	c, err := Read(Options{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	want := Components{
		"machine_id": HashComponent("machine_id", "0123456789abcdef0123456789abcdef"),
		"cpu":        HashComponent("cpu", "Intel(R) Core(TM) i5/6"),
		"disk":       HashComponent("disk", "WD-12345"),
		"mac":        HashComponent("mac", "aa:bb:cc:dd:ee:01"),
		"hostname":   HashComponent("hostname", "karaoke-bar"),
	}
	for k, v := range want {
		if c[k] != v {
			t.Errorf("%s = %s, want %s", k, c[k], v)
		}
	}
	if len(c) != len(want) {
		t.Errorf("got %d components, want %d: %v", len(c), len(want), c)
	}
}

func TestGenerateHWIDIsStableIgnoresHostnameAndHonoursOverride(t *testing.T) {
	root := fakeLinux(t)
	a, err := GenerateHWID(Options{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	write(t, root, "/etc/hostname", "renamed\n")
	b, _ := GenerateHWID(Options{Root: root})
	if a != b || len(a) != 32 {
		t.Fatalf("hwid changed with the hostname or has the wrong length: %s %s", a, b)
	}
	o1, _ := GenerateHWID(Options{Root: root, Override: "container-1"})
	o2, _ := GenerateHWID(Options{Root: root, Override: "container-2"})
	if o1 == a || o1 == o2 {
		t.Fatalf("override not applied: %s %s %s", a, o1, o2)
	}
	if _, err := Read(Options{Root: t.TempDir() + "/nothing"}); err == nil {
		// An empty root still has no hostname file: nothing readable.
		t.Fatal("expected ErrNoComponents")
	}
}

func TestReadsThisLinuxMachine(t *testing.T) {
	c, err := Read(Options{})
	if err != nil {
		t.Fatal(err)
	}
	if c["hostname"] == "" {
		t.Fatalf("no hostname component: %v", c)
	}
}

// Computed with the service's licensing/client/fingerprint.ts.
const (
	wantMachineIDA = "7ed2e8aa772a6f2c0bde22d9ae8bd889e09852a5cd0d15430449100c76338fa7"
	wantMacUpper   = "214e65b1a6139f9d7365f64bc090fb6c82454e5962516f10048047b93265933f"
	wantDigestAB   = "55c420c0f44ea4c6c84414bc15c0a2923ce2b03ae1e907fbcf20d131d735faff"
)
