package auth

import "net/http"

// Error is an authentication or authorisation failure with the AWS error
// code the AWS JSON services answer with (reference §8.2 step 5) and the
// HTTP status that goes with it. Messages never contain secrets.
type Error struct {
	Code    string // AWS error code, e.g. "InvalidSignatureException"
	Message string
	Status  int // HTTP status: 400 for signature problems, 403 for denied actions
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// AWS error codes returned in Error.Code.
const (
	// CodeMissingAuthenticationToken: no credential at all.
	CodeMissingAuthenticationToken = "MissingAuthenticationTokenException"
	// CodeIncompleteSignature: an Authorization header or presigned query
	// that cannot be parsed.
	CodeIncompleteSignature = "IncompleteSignatureException"
	// CodeInvalidSignature: the signature is wrong for JSON services, or the
	// request is too old or too new ("Signature expired").
	CodeInvalidSignature = "InvalidSignatureException"
	// CodeUnrecognizedClient: the access key id is not configured.
	CodeUnrecognizedClient = "UnrecognizedClientException"
	// CodeAccessDenied: the key's policy does not allow the action.
	CodeAccessDenied = "AccessDeniedException"
)

func errorf(code string, status int, msg string) *Error {
	return &Error{Code: code, Message: msg, Status: status}
}

var (
	errMissing      = errorf(CodeMissingAuthenticationToken, http.StatusBadRequest, "Missing Authentication Token")
	errUnrecognized = errorf(CodeUnrecognizedClient, http.StatusBadRequest, "The security token included in the request is invalid.")
	errMismatch     = errorf(CodeInvalidSignature, http.StatusBadRequest, "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.")
	errBadPassword  = errorf(CodeUnrecognizedClient, http.StatusUnauthorized, "The access key id or secret is wrong.")
)

// Denied returns the error for an action the principal may not do.
func Denied(p Principal, action, resource string) *Error {
	id := "anonymous"
	if p != nil {
		id = p.AccessKeyID()
	}
	return errorf(CodeAccessDenied, http.StatusForbidden,
		"User: "+id+" is not authorized to perform: "+action+" on resource: "+resource)
}

// ErrorCode returns the AWS error code (internal/awsapi's AWSError).
func (e *Error) ErrorCode() string { return e.Code }

// HTTPStatus returns the HTTP status to answer with.
func (e *Error) HTTPStatus() int { return e.Status }
