package config

// Officers configures the security officers' review (admin listener).
type Officers struct {
	// Users are the Matrix user IDs of security officers.
	Users []string `yaml:"users"`
}

// validate reports the problems of the officers' settings.
func (o Officers) validate() []error {
	return nil
}
