package hss

import "encoding/xml"

// The user profile of TS 29.228 annex E (CxDataType.xsd), as much of it as
// the registration flow needs: the IMPI, one ServiceProfile with every IMPU,
// and one InitialFilterCriteria that sends REGISTER to the VCC Application.

type imsSubscription struct {
	XMLName        xml.Name       `xml:"IMSSubscription"`
	XSI            string         `xml:"xmlns:xsi,attr"`
	SchemaLocation string         `xml:"xsi:noNamespaceSchemaLocation,attr"`
	PrivateID      string         `xml:"PrivateID"`
	ServiceProfile serviceProfile `xml:"ServiceProfile"`
}

type serviceProfile struct {
	PublicIdentity        []publicIdentity        `xml:"PublicIdentity"`
	InitialFilterCriteria []initialFilterCriteria `xml:"InitialFilterCriteria,omitempty"`
}

type publicIdentity struct {
	Identity string `xml:"Identity"`
}

type initialFilterCriteria struct {
	Priority          int               `xml:"Priority"`
	TriggerPoint      triggerPoint      `xml:"TriggerPoint"`
	ApplicationServer applicationServer `xml:"ApplicationServer"`
}

type triggerPoint struct {
	ConditionTypeCNF int   `xml:"ConditionTypeCNF"`
	SPT              []spt `xml:"SPT"`
}

type spt struct {
	ConditionNegated int    `xml:"ConditionNegated"`
	Group            int    `xml:"Group"`
	Method           string `xml:"Method"`
}

type applicationServer struct {
	ServerName      string `xml:"ServerName"`
	DefaultHandling int    `xml:"DefaultHandling"`
}

// UserProfile returns the User-Data of an SAA (TS 29.228 annex E,
// IMSSubscription): PrivateID = impi, a ServiceProfile with one
// PublicIdentity per IMPU, and, when asURI is not empty, an
// InitialFilterCriteria with Priority 0 whose TriggerPoint matches SIP method
// REGISTER (ConditionTypeCNF 0, one SPT in Group 0, not negated) and whose
// ApplicationServer is asURI with DefaultHandling 0
// (SESSION_CONTINUED). Values are XML-escaped.
func UserProfile(impi string, impus []string, asURI string) ([]byte, error) {
	s := imsSubscription{
		XSI:            "http://www.w3.org/2001/XMLSchema-instance",
		SchemaLocation: "CxDataType.xsd",
		PrivateID:      impi,
	}
	for _, u := range impus {
		s.ServiceProfile.PublicIdentity = append(s.ServiceProfile.PublicIdentity, publicIdentity{Identity: u})
	}
	if asURI != "" {
		s.ServiceProfile.InitialFilterCriteria = []initialFilterCriteria{{
			Priority: 0,
			TriggerPoint: triggerPoint{
				ConditionTypeCNF: 0,
				SPT:              []spt{{ConditionNegated: 0, Group: 0, Method: "REGISTER"}},
			},
			ApplicationServer: applicationServer{ServerName: asURI, DefaultHandling: 0},
		}}
	}
	b, err := xml.MarshalIndent(s, "", "  ")
	if err != nil {
		return nil, err
	}
	return append([]byte(xml.Header), b...), nil
}
