package auth

// PGPassword is the PostgreSQL door's password lookup (pgwire's
// Options.Passwords): the user name is a key id and the password its
// secret. A key whose policy allows timestream:Select nowhere is reported
// as unknown, so its login fails with 28P01 like a wrong password. Which
// tables a session may read is checked per statement (CheckSQL).
func (s *Service) PGPassword(user string) (string, bool) {
	k := s.Key(user)
	if k == nil || !k.AllowsSomewhere(ActionSelect) {
		return "", false
	}
	return k.Secret.Reveal(), true
}
