/*
 * awsconf.h - AWS credentials, region and endpoint as the AWS CLI and SDKs
 * find them: environment variables, then the shared files
 * ~/.aws/credentials and ~/.aws/config, for the S3 store plugin.
 *
 * Pure C and libc: Debian's libinih cuts lines at 200 bytes, and session
 * tokens are about 1000, so the two INI files are read here.  Thread safe
 * (no globals; reads the environment).
 */
#ifndef CKPTIO_S3_AWSCONF_H
#define CKPTIO_S3_AWSCONF_H

#include <stddef.h>

typedef struct s3_aws_profile {
	char *access_key;     /* NULL when none found */
	char *secret_key;
	char *session_token;  /* NULL when none */
	char *region;         /* NULL when none */
	char *endpoint_url;   /* NULL when none */
	/* Where the keys came from, for messages: "environment
	 * (AWS_ACCESS_KEY_ID)", "/home/u/.aws/credentials [default]". */
	char cred_source[256];
} s3_aws_profile;

/* Fill out.  profile: the profile to use, or NULL for $AWS_PROFILE, else
 * "default".  home: NULL for $HOME (tests pass a directory).
 *
 * Keys: AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY (+ AWS_SESSION_TOKEN)
 * when both are set and no profile is passed explicitly; else the
 * profile's aws_access_key_id / aws_secret_access_key / aws_session_token
 * from $AWS_SHARED_CREDENTIALS_FILE (~/.aws/credentials, section [NAME]),
 * then from $AWS_CONFIG_FILE (~/.aws/config, section [profile NAME], or
 * [default]).  Region: AWS_REGION, AWS_DEFAULT_REGION, the profile's
 * region.  Endpoint: AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, the profile's
 * endpoint_url (also in its "s3 =" sub-section).
 *
 * Missing files are not errors, nor is finding nothing.  Errors (returns
 * -1 with err set, naming file, line and problem, never a secret): a
 * malformed or oversized file, half a key pair, and a profile named
 * explicitly or by AWS_PROFILE that is in neither file. */
int s3_aws_load(const char *profile, const char *home, s3_aws_profile *out,
		char *err, size_t errlen);

void s3_aws_free(s3_aws_profile *p);

#endif /* CKPTIO_S3_AWSCONF_H */
