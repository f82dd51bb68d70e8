package tmpdeps

import (
	_ "github.com/emiago/sipgo"
	_ "github.com/google/gopacket/pcapgo"
	_ "github.com/onsi/ginkgo/v2"
	_ "github.com/onsi/gomega"
	_ "gopkg.in/yaml.v3"
)
