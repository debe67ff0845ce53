package billingclient

// Version is the version of the billing.v1 contract this module was
// generated from (proto/VERSION in the service repository). The module is
// tagged clients/go/v<Version>; the TypeScript and Python clients carry the
// same number.
const Version = "1.3.0"
