// Package registration is the TS 24.206 A.3.2.2 IMS registration conformance
// suite: one Ginkgo spec per rule, named as the conformance statement reads.
//
//	go tool ginkgo -r ./suites                       # embedded reference core
//	go tool ginkgo -r ./suites -- --lab lab.yaml     # a lab IMS core
//	go tool ginkgo -r --label-filter=A.3.2.2-5 ./suites
package registration
