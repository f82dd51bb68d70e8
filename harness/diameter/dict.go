package diameter

import "fmt"

// Vendor and application identifiers.
const (
	Vendor3GPP uint32 = 10415      // 3GPP (IANA SMI enterprise code)
	AppCommon  uint32 = 0          // Diameter common messages (RFC 6733 2.4)
	AppCx      uint32 = 16777216   // 3GPP Cx/Dx (TS 29.229 6.2)
	AppRelay   uint32 = 0xffffffff // relay (RFC 6733 2.4)
)

// Command codes (RFC 6733 3.1, TS 29.229 6.1).
const (
	CmdCapabilitiesExchange uint32 = 257 // CER/CEA
	CmdDeviceWatchdog       uint32 = 280 // DWR/DWA
	CmdDisconnectPeer       uint32 = 282 // DPR/DPA
	CmdUserAuthorization    uint32 = 300 // UAR/UAA
	CmdServerAssignment     uint32 = 301 // SAR/SAA
	CmdLocationInfo         uint32 = 302 // LIR/LIA
	CmdMultimediaAuth       uint32 = 303 // MAR/MAA
	CmdRegistrationTerm     uint32 = 304 // RTR/RTA
	CmdPushProfile          uint32 = 305 // PPR/PPA
)

// Base protocol AVP codes (RFC 6733 4.5; User-Name from RFC 6733 8.14).
const (
	AVPUserName                    uint32 = 1
	AVPHostIPAddress               uint32 = 257
	AVPAuthApplicationID           uint32 = 258
	AVPAcctApplicationID           uint32 = 259
	AVPVendorSpecificApplicationID uint32 = 260
	AVPSessionID                   uint32 = 263
	AVPOriginHost                  uint32 = 264
	AVPSupportedVendorID           uint32 = 265
	AVPVendorID                    uint32 = 266
	AVPFirmwareRevision            uint32 = 267
	AVPResultCode                  uint32 = 268
	AVPProductName                 uint32 = 269
	AVPDisconnectCause             uint32 = 273
	AVPAuthSessionState            uint32 = 277
	AVPOriginStateID               uint32 = 278
	AVPFailedAVP                   uint32 = 279
	AVPErrorMessage                uint32 = 281
	AVPDestinationRealm            uint32 = 283
	AVPDestinationHost             uint32 = 293
	AVPOriginRealm                 uint32 = 296
	AVPExperimentalResult          uint32 = 297
	AVPExperimentalResultCode      uint32 = 298
)

// 3GPP Cx AVP codes, vendor 10415 (TS 29.229 6.3).
const (
	AVPVisitedNetworkIdentifier uint32 = 600
	AVPPublicIdentity           uint32 = 601
	AVPServerName               uint32 = 602
	AVPServerCapabilities       uint32 = 603
	AVPMandatoryCapability      uint32 = 604
	AVPOptionalCapability       uint32 = 605
	AVPUserData                 uint32 = 606
	AVPSIPNumberAuthItems       uint32 = 607
	AVPSIPAuthenticationScheme  uint32 = 608
	AVPSIPAuthenticate          uint32 = 609
	AVPSIPAuthorization         uint32 = 610
	AVPSIPAuthenticationContext uint32 = 611
	AVPSIPAuthDataItem          uint32 = 612
	AVPSIPItemNumber            uint32 = 613
	AVPServerAssignmentType     uint32 = 614
	AVPChargingInformation      uint32 = 618
	AVPUserAuthorizationType    uint32 = 623
	AVPUserDataAlreadyAvailable uint32 = 624
	AVPConfidentialityKey       uint32 = 625
	AVPIntegrityKey             uint32 = 626
	AVPSupportedFeatures        uint32 = 628
	AVPFeatureListID            uint32 = 629
	AVPFeatureList              uint32 = 630
)

// Result-Code values (RFC 6733 7.1).
const (
	ResultSuccess                uint32 = 2001
	ResultCommandUnsupported     uint32 = 3001
	ResultUnableToDeliver        uint32 = 3002
	ResultApplicationUnsupported uint32 = 3007
	ResultInvalidHdrBits         uint32 = 3008
	ResultInvalidAVPBits         uint32 = 3009
	ResultUnknownPeer            uint32 = 3010
	ResultAVPUnsupported         uint32 = 5001
	ResultInvalidAVPValue        uint32 = 5004
	ResultMissingAVP             uint32 = 5005
	ResultNoCommonApplication    uint32 = 5010
	ResultUnsupportedVersion     uint32 = 5011
	ResultUnableToComply         uint32 = 5012
	ResultInvalidAVPLength       uint32 = 5014
	ResultInvalidMessageLength   uint32 = 5015
	ResultInvalidAVPBitCombo     uint32 = 5016
	ResultNoCommonSecurity       uint32 = 5017
	ResultAVPOccursTooManyTimes  uint32 = 5009
	ResultAuthorizationRejected  uint32 = 5003
	ResultAuthenticationRejected uint32 = 4001
	ResultTooBusy                uint32 = 3004
	ResultLoopDetected           uint32 = 3005
	ResultRealmNotServed         uint32 = 3003
	ResultRedirectIndication     uint32 = 3006
	ResultContradictingAVPs      uint32 = 5007
	ResultAVPNotAllowed          uint32 = 5008
	ResultResourcesExceeded      uint32 = 5006
	ResultLimitedSuccess         uint32 = 2002
	ResultMultiRoundAuth         uint32 = 1001
	ResultOutOfSpace             uint32 = 4002
	ResultElectionLost           uint32 = 4003
	ResultUnknownSessionID       uint32 = 5002
	ResultInvalidBitInHeader     uint32 = 5013
)

// Experimental-Result-Code values of Cx, vendor 10415 (TS 29.229 6.2).
const (
	CxFirstRegistration           uint32 = 2001 // DIAMETER_FIRST_REGISTRATION
	CxSubsequentRegistration      uint32 = 2002 // DIAMETER_SUBSEQUENT_REGISTRATION
	CxUnregisteredService         uint32 = 2003 // DIAMETER_UNREGISTERED_SERVICE
	CxSuccessServerNameNotStored  uint32 = 2004 // DIAMETER_SUCCESS_SERVER_NAME_NOT_STORED
	CxErrorUserUnknown            uint32 = 5001 // DIAMETER_ERROR_USER_UNKNOWN
	CxErrorIdentitiesDontMatch    uint32 = 5002 // DIAMETER_ERROR_IDENTITIES_DONT_MATCH
	CxErrorIdentityNotRegistered  uint32 = 5003 // DIAMETER_ERROR_IDENTITY_NOT_REGISTERED
	CxErrorRoamingNotAllowed      uint32 = 5004 // DIAMETER_ERROR_ROAMING_NOT_ALLOWED
	CxErrorAuthSchemeNotSupported uint32 = 5006 // DIAMETER_ERROR_AUTH_SCHEME_NOT_SUPPORTED
	CxErrorInAssignmentType       uint32 = 5007 // DIAMETER_ERROR_IN_ASSIGNMENT_TYPE
)

// Disconnect-Cause values (RFC 6733 5.4.3).
const (
	DisconnectRebooting               int32 = 0
	DisconnectBusy                    int32 = 1
	DisconnectDoNotWantToTalkToYou    int32 = 2
	AuthSessionStateMaintained        int32 = 0 // Auth-Session-State STATE_MAINTAINED
	AuthSessionStateNoStateMaintained int32 = 1 // Auth-Session-State NO_STATE_MAINTAINED
)

var resultNames = map[uint32]string{
	ResultSuccess:                "DIAMETER_SUCCESS",
	ResultCommandUnsupported:     "DIAMETER_COMMAND_UNSUPPORTED",
	ResultUnableToDeliver:        "DIAMETER_UNABLE_TO_DELIVER",
	ResultApplicationUnsupported: "DIAMETER_APPLICATION_UNSUPPORTED",
	ResultInvalidHdrBits:         "DIAMETER_INVALID_HDR_BITS",
	ResultInvalidAVPBits:         "DIAMETER_INVALID_AVP_BITS",
	ResultUnknownPeer:            "DIAMETER_UNKNOWN_PEER",
	ResultAVPUnsupported:         "DIAMETER_AVP_UNSUPPORTED",
	ResultInvalidAVPValue:        "DIAMETER_INVALID_AVP_VALUE",
	ResultMissingAVP:             "DIAMETER_MISSING_AVP",
	ResultNoCommonApplication:    "DIAMETER_NO_COMMON_APPLICATION",
	ResultUnsupportedVersion:     "DIAMETER_UNSUPPORTED_VERSION",
	ResultUnableToComply:         "DIAMETER_UNABLE_TO_COMPLY",
	ResultInvalidAVPLength:       "DIAMETER_INVALID_AVP_LENGTH",
	ResultInvalidMessageLength:   "DIAMETER_INVALID_MESSAGE_LENGTH",
}

// ResultCodeName returns the RFC 6733 name of a Result-Code, or its number.
func ResultCodeName(code uint32) string {
	if n, ok := resultNames[code]; ok {
		return fmt.Sprintf("%d %s", code, n)
	}
	return fmt.Sprintf("%d", code)
}

// Type is an AVP data type (RFC 6733 4.2, 4.3).
type Type int

// AVP data types.
const (
	TypeOctetString Type = iota + 1
	TypeUTF8String
	TypeDiameterIdentity
	TypeUnsigned32
	TypeUnsigned64
	TypeInteger32
	TypeEnumerated
	TypeAddress
	TypeTime
	TypeGrouped
)

var typeNames = [...]string{"", "OctetString", "UTF8String", "DiameterIdentity", "Unsigned32", "Unsigned64", "Integer32", "Enumerated", "Address", "Time", "Grouped"}

func (t Type) String() string {
	if t > 0 && int(t) < len(typeNames) {
		return typeNames[t]
	}
	return fmt.Sprintf("Type(%d)", int(t))
}

// AVPDef describes one AVP: its code, vendor (0 for IETF), name, data type
// and the flags this package sets when it sends it (M, and V when the vendor
// is not 0).
type AVPDef struct {
	Code   uint32
	Vendor uint32
	Name   string
	Type   Type
	Flags  uint8
	// Secret marks key material (CK, IK): tools that print AVPs must not
	// show its data.
	Secret bool
}

type avpKey struct{ code, vendor uint32 }

// Dictionary maps (code, vendor) to AVP definitions. It is read-only after
// construction and safe for concurrent use.
type Dictionary struct {
	defs map[avpKey]AVPDef
}

// NewDictionary builds a dictionary. A later definition of the same code
// and vendor replaces an earlier one.
func NewDictionary(defs ...AVPDef) *Dictionary {
	d := &Dictionary{defs: make(map[avpKey]AVPDef, len(defs))}
	for _, def := range defs {
		if def.Vendor != 0 {
			def.Flags |= AVPFlagVendor
		}
		d.defs[avpKey{def.Code, def.Vendor}] = def
	}
	return d
}

// Lookup returns the definition of an AVP.
func (d *Dictionary) Lookup(code, vendor uint32) (AVPDef, bool) {
	if d == nil {
		return AVPDef{}, false
	}
	def, ok := d.defs[avpKey{code, vendor}]
	return def, ok
}

// Defs returns every definition, in no particular order.
func (d *Dictionary) Defs() []AVPDef {
	out := make([]AVPDef, 0, len(d.defs))
	for _, def := range d.defs {
		out = append(out, def)
	}
	return out
}

// New builds an AVP from this dictionary's definition of (code, vendor),
// with its flags, from raw data. It fails for an unknown AVP.
func (d *Dictionary) New(code, vendor uint32, data []byte) (AVP, error) {
	def, ok := d.Lookup(code, vendor)
	if !ok {
		return AVP{}, fmt.Errorf("diameter: expected an AVP the dictionary knows, got code %d vendor %d", code, vendor)
	}
	return AVP{Code: code, Flags: def.Flags, VendorID: vendor, Data: append([]byte{}, data...)}, nil
}

const (
	fM  = AVPFlagMandatory
	fMV = AVPFlagMandatory | AVPFlagVendor
	fV  = AVPFlagVendor
)

// BaseAVPs are the RFC 6733 AVPs the harness uses, with the flags of the
// RFC 6733 4.5 table.
var BaseAVPs = []AVPDef{
	{AVPUserName, 0, "User-Name", TypeUTF8String, fM, false},
	{AVPHostIPAddress, 0, "Host-IP-Address", TypeAddress, fM, false},
	{AVPAuthApplicationID, 0, "Auth-Application-Id", TypeUnsigned32, fM, false},
	{AVPAcctApplicationID, 0, "Acct-Application-Id", TypeUnsigned32, fM, false},
	{AVPVendorSpecificApplicationID, 0, "Vendor-Specific-Application-Id", TypeGrouped, fM, false},
	{AVPSessionID, 0, "Session-Id", TypeUTF8String, fM, false},
	{AVPOriginHost, 0, "Origin-Host", TypeDiameterIdentity, fM, false},
	{AVPSupportedVendorID, 0, "Supported-Vendor-Id", TypeUnsigned32, fM, false},
	{AVPVendorID, 0, "Vendor-Id", TypeUnsigned32, fM, false},
	{AVPFirmwareRevision, 0, "Firmware-Revision", TypeUnsigned32, 0, false},
	{AVPResultCode, 0, "Result-Code", TypeUnsigned32, fM, false},
	{AVPProductName, 0, "Product-Name", TypeUTF8String, 0, false},
	{AVPDisconnectCause, 0, "Disconnect-Cause", TypeEnumerated, fM, false},
	{AVPAuthSessionState, 0, "Auth-Session-State", TypeEnumerated, fM, false},
	{AVPOriginStateID, 0, "Origin-State-Id", TypeUnsigned32, fM, false},
	{AVPFailedAVP, 0, "Failed-AVP", TypeGrouped, fM, false},
	{AVPErrorMessage, 0, "Error-Message", TypeUTF8String, 0, false},
	{AVPDestinationRealm, 0, "Destination-Realm", TypeDiameterIdentity, fM, false},
	{AVPDestinationHost, 0, "Destination-Host", TypeDiameterIdentity, fM, false},
	{AVPOriginRealm, 0, "Origin-Realm", TypeDiameterIdentity, fM, false},
	{AVPExperimentalResult, 0, "Experimental-Result", TypeGrouped, fM, false},
	{AVPExperimentalResultCode, 0, "Experimental-Result-Code", TypeUnsigned32, fM, false},
}

// CxAVPs are the TS 29.229 AVPs (vendor 10415) the harness uses, with the
// flags of the TS 29.229 6.3 table.
var CxAVPs = []AVPDef{
	{AVPVisitedNetworkIdentifier, Vendor3GPP, "Visited-Network-Identifier", TypeOctetString, fMV, false},
	{AVPPublicIdentity, Vendor3GPP, "Public-Identity", TypeUTF8String, fMV, false},
	{AVPServerName, Vendor3GPP, "Server-Name", TypeUTF8String, fMV, false},
	{AVPServerCapabilities, Vendor3GPP, "Server-Capabilities", TypeGrouped, fMV, false},
	{AVPMandatoryCapability, Vendor3GPP, "Mandatory-Capability", TypeUnsigned32, fMV, false},
	{AVPOptionalCapability, Vendor3GPP, "Optional-Capability", TypeUnsigned32, fMV, false},
	{AVPUserData, Vendor3GPP, "User-Data", TypeOctetString, fMV, false},
	{AVPSIPNumberAuthItems, Vendor3GPP, "SIP-Number-Auth-Items", TypeUnsigned32, fMV, false},
	{AVPSIPAuthenticationScheme, Vendor3GPP, "SIP-Authentication-Scheme", TypeUTF8String, fMV, false},
	{AVPSIPAuthenticate, Vendor3GPP, "SIP-Authenticate", TypeOctetString, fMV, false},
	{AVPSIPAuthorization, Vendor3GPP, "SIP-Authorization", TypeOctetString, fMV, true},
	{AVPSIPAuthenticationContext, Vendor3GPP, "SIP-Authentication-Context", TypeOctetString, fMV, false},
	{AVPSIPAuthDataItem, Vendor3GPP, "SIP-Auth-Data-Item", TypeGrouped, fMV, false},
	{AVPSIPItemNumber, Vendor3GPP, "SIP-Item-Number", TypeUnsigned32, fMV, false},
	{AVPServerAssignmentType, Vendor3GPP, "Server-Assignment-Type", TypeEnumerated, fMV, false},
	{AVPChargingInformation, Vendor3GPP, "Charging-Information", TypeGrouped, fMV, false},
	{AVPUserAuthorizationType, Vendor3GPP, "User-Authorization-Type", TypeEnumerated, fMV, false},
	{AVPUserDataAlreadyAvailable, Vendor3GPP, "User-Data-Already-Available", TypeEnumerated, fMV, false},
	{AVPConfidentialityKey, Vendor3GPP, "Confidentiality-Key", TypeOctetString, fMV, true},
	{AVPIntegrityKey, Vendor3GPP, "Integrity-Key", TypeOctetString, fMV, true},
	{AVPSupportedFeatures, Vendor3GPP, "Supported-Features", TypeGrouped, fV, false},
	{AVPFeatureListID, Vendor3GPP, "Feature-List-ID", TypeUnsigned32, fV, false},
	{AVPFeatureList, Vendor3GPP, "Feature-List", TypeUnsigned32, fV, false},
}

// Default is the dictionary of BaseAVPs and CxAVPs.
var Default = NewDictionary(append(append([]AVPDef{}, BaseAVPs...), CxAVPs...)...)

// Validate checks every AVP of m, recursing into grouped AVPs the dictionary
// knows, the way a receiver must (RFC 6733 4.1, 7.1.5):
//   - an unknown AVP with the M bit: 5001 DIAMETER_AVP_UNSUPPORTED;
//   - a known AVP whose data does not fit its type (Unsigned32 of other than
//     4 bytes, a grouped AVP whose members do not decode): 5014
//     DIAMETER_INVALID_AVP_LENGTH;
//   - an Address of an unknown family or invalid UTF-8 in a UTF8String: 5004
//     DIAMETER_INVALID_AVP_VALUE.
//
// Unknown AVPs without the M bit are ignored. The *DecodeError's FailedAVP is
// the offending AVP.
func (d *Dictionary) Validate(m *Message) error { return d.validate(m.AVPs, 0) }

func (d *Dictionary) validate(avps []AVP, depth int) error {
	if depth > 16 {
		return &DecodeError{ResultCode: ResultUnableToComply, Msg: "expected grouped AVPs nested at most 16 deep, got deeper"}
	}
	for i := range avps {
		a := avps[i]
		def, ok := d.Lookup(a.Code, a.Vendor())
		if !ok {
			if a.Mandatory() {
				return &DecodeError{ResultCode: ResultAVPUnsupported, Msg: fmt.Sprintf("expected AVPs with the M bit to be known, got unknown AVP %d vendor %d with M", a.Code, a.Vendor()), FailedAVP: &a}
			}
			continue
		}
		var err error
		switch def.Type {
		case TypeUnsigned32, TypeInteger32, TypeEnumerated, TypeTime:
			err = a.wantLen(4, def.Type.String())
		case TypeUnsigned64:
			err = a.wantLen(8, def.Type.String())
		case TypeAddress:
			if _, aerr := a.Addr(); aerr != nil {
				rc := ResultInvalidAVPValue
				if len(a.Data) < 2 {
					rc = ResultInvalidAVPLength
				}
				return &DecodeError{ResultCode: rc, Msg: fmt.Sprintf("%s: %v", def.Name, aerr), FailedAVP: &a}
			}
		case TypeUTF8String, TypeDiameterIdentity:
			if _, uerr := a.UTF8(); uerr != nil {
				return &DecodeError{ResultCode: ResultInvalidAVPValue, Msg: fmt.Sprintf("%s: %v", def.Name, uerr), FailedAVP: &a}
			}
		case TypeGrouped:
			members, gerr := DecodeAVPs(a.Data)
			if gerr != nil {
				msg := gerr.Error()
				if de, ok := gerr.(*DecodeError); ok {
					msg = de.Msg
				}
				return &DecodeError{ResultCode: ResultInvalidAVPLength, Msg: fmt.Sprintf("%s: %s", def.Name, msg), FailedAVP: &AVP{Code: a.Code, Flags: a.Flags, VendorID: a.VendorID}}
			}
			if verr := d.validate(members, depth+1); verr != nil {
				return verr
			}
		}
		if err != nil {
			return &DecodeError{ResultCode: ResultInvalidAVPLength, Msg: fmt.Sprintf("%s: %v", def.Name, err), FailedAVP: &a}
		}
	}
	return nil
}
