package lab

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"syscall"
)

// The address policy. The UE, the mock VCC Application and the HSS emulator
// bind addresses of this host that the lab names, IPv4 or IPv6; they reach
// any address or host name the lab gives for the SUT. Only the embedded
// reference core (sut.pcscf empty) is loopback-only. CheckHost enforces the
// part that can be known before the run: that each bound address is this
// host's, and that the UE can reach an IP-literal P-CSCF.

// originRoute is the origin of a ue.address picked from the route to an
// IP-literal sut.pcscf (see settleUEAddress).
const originRoute = "default (the address this host reaches sut.pcscf from)"

// CheckHost checks the profile against this host and returns the first
// problem as a *FieldError naming the field and where its value came from:
//
//   - ue.address, the host of vcc_app.listen and the host of hss.listen are
//     addresses of this host (or of its network namespace): each is checked by
//     binding a UDP socket to it, port 0, and closing it at once;
//   - with the embedded reference core (sut.pcscf empty) ue.address and
//     vcc_app.listen are loopback addresses;
//   - with sut.ipsec, this process may open a raw ESP socket on ue.address
//     (root or CAP_NET_RAW; see RawESP);
//   - with an IP-literal sut.pcscf, a loopback ue.address reaches only a
//     loopback P-CSCF, and the kernel has a route from ue.address to the
//     P-CSCF (asked by connecting a UDP socket: nothing is sent).
//
// A host name or domain in sut.pcscf is resolved by the run, not here.
// CheckHost expects a profile that Validate accepts.
func (p *Profile) CheckHost() error {
	ue, problem := checkIP(p.UE.Address)
	if problem != "" {
		return p.fieldError("ue.address", problem)
	}
	embedded := p.SUT.PCSCF == ""
	if embedded && !ue.Unmap().IsLoopback() {
		return p.fieldError("ue.address", fmt.Sprintf("expected a loopback address (127.0.0.0/8 or ::1): the embedded reference core (sut.pcscf empty) runs on loopback only; saw %s", quote(p.UE.Address)))
	}
	if problem := checkLocal(ue); problem != "" {
		return p.fieldError("ue.address", problem)
	}
	if ap, err := netip.ParseAddrPort(p.VCCApp.Listen); err == nil {
		if embedded && !ap.Addr().Unmap().IsLoopback() {
			return p.fieldError("vcc_app.listen", fmt.Sprintf("expected a loopback address: the embedded reference core (sut.pcscf empty) runs on loopback only; saw %s", quote(p.VCCApp.Listen)))
		}
		if problem := checkLocal(ap.Addr()); problem != "" {
			return p.fieldError("vcc_app.listen", problem)
		}
	}
	if ap, err := netip.ParseAddrPort(p.HSS.Listen); err == nil && !embedded {
		if problem := checkLocal(ap.Addr()); problem != "" {
			return p.fieldError("hss.listen", problem)
		}
	}
	if p.SUT.IPsec {
		if err := RawESP(ue); err != nil {
			return p.fieldError("sut.ipsec", fmt.Sprintf("expected to open a raw IP socket for ESP (protocol 50) on ue.address %s, which needs root or CAP_NET_RAW (the harness runs ESP in user space; the kernel needs none), saw %v", ue, unwrapSys(err)))
		}
	}
	if pc, err := netip.ParseAddrPort(p.SUT.PCSCF); err == nil {
		if err := CheckReach(ue, pc); err != nil {
			return p.fieldError("ue.address", fmt.Sprintf("expected an address that reaches sut.pcscf %s (%s), saw %s: %v", pc, p.src["sut.pcscf"], quote(p.UE.Address), err))
		}
	}
	return nil
}

// RawESP opens a raw IP socket for protocol 50 (ESP) on a for a moment, as
// the user-space ESP of sut.ipsec does (harness/esp): it fails without root
// or CAP_NET_RAW.
func RawESP(a netip.Addr) error {
	network := "ip4:50"
	if a.Unmap().Is6() {
		network = "ip6:50"
	}
	c, err := net.ListenPacket(network, a.Unmap().String())
	if err != nil {
		return err
	}
	return c.Close()
}

// checkLocal says why a is not an address this host can bind, or "".
func checkLocal(a netip.Addr) string {
	a = a.Unmap()
	switch {
	case a.IsUnspecified():
		return fmt.Sprintf("expected an address of this host, saw the unspecified address %s: the harness puts it into Via and Contact, so it must be one address", a)
	case a.IsMulticast():
		return fmt.Sprintf("expected an address of this host, saw the multicast address %s", a)
	}
	c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(a, 0)))
	if err != nil {
		why := err.Error()
		if errors.Is(err, syscall.EADDRNOTAVAIL) {
			why = "no interface of this host (or of its network namespace) has it"
		}
		return fmt.Sprintf("expected an address of this host, saw %s: binding it failed: %s (see ip addr)", a, why)
	}
	_ = c.Close()
	return ""
}

// CheckReach says why the UE at src cannot reach the P-CSCF at dst, or
// returns nil: a loopback src reaches only loopback, and the kernel must have
// a route from src to dst (a UDP socket bound to src is connected to dst;
// nothing is sent).
func CheckReach(src netip.Addr, dst netip.AddrPort) error {
	src, d := src.Unmap(), dst.Addr().Unmap()
	if src.Is4() != d.Is4() {
		return fmt.Errorf("%s and %s are of different IP families", src, d)
	}
	if src.IsLoopback() && !d.IsLoopback() {
		return fmt.Errorf("a loopback address reaches only loopback; set ue.address to this host's address on the lab's network")
	}
	c, err := net.DialUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(src, 0)), net.UDPAddrFromAddrPort(netip.AddrPortFrom(d, dst.Port())))
	if err != nil {
		return fmt.Errorf("no route from it to %s: %v (see ip route get %s from %s)", d, unwrapSys(err), d, src)
	}
	_ = c.Close()
	return nil
}

// RouteSource returns the address this host sends from to reach dst: the
// source of the kernel's route (a UDP socket is connected; nothing is sent).
func RouteSource(dst netip.Addr) (netip.Addr, error) {
	d := dst.Unmap()
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(d, 9)))
	if err != nil {
		return netip.Addr{}, fmt.Errorf("no route to %s: %v", d, unwrapSys(err))
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).AddrPort().Addr().Unmap(), nil
}

func unwrapSys(err error) error {
	var se *os.SyscallError
	if errors.As(err, &se) {
		return se.Err
	}
	return err
}

// settleUEAddress replaces a default ue.address by the address this host
// reaches an IP-literal sut.pcscf from (RouteSource), so that a lab profile
// that names only its P-CSCF needs no ue.address. Without a route it leaves
// the default; CheckHost then says why.
func (p *Profile) settleUEAddress() {
	if p.src["ue.address"] != originDefault {
		return
	}
	pc, err := netip.ParseAddrPort(p.SUT.PCSCF)
	if err != nil {
		return
	}
	a, err := RouteSource(pc.Addr())
	if err != nil {
		p.noRoute = fmt.Sprintf("expected this host to have a route to sut.pcscf %s (%s), to take ue.address from, saw %v (see ip route get %s)", pc, p.src["sut.pcscf"], err, pc.Addr())
		return
	}
	p.noRoute = ""
	p.UE.Address = a.String()
	p.src["ue.address"] = originRoute
}

// IsDefault reports whether the field at path holds its default value
// (the lab file, the environment and the flags left it out).
func (p *Profile) IsDefault(path string) bool {
	o := p.src[path]
	return o == originDefault || o == originRoute
}
