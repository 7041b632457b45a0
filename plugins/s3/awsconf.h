/*
 * awsconf.h - AWS credentials, region and endpoint as the AWS CLI v2 and
 * the SDKs find them: environment variables, then the shared files
 * ~/.aws/credentials and ~/.aws/config, for the S3 store plugin.
 *
 * Pure C and libc: Debian's libinih cuts lines at 200 bytes, and session
 * tokens are about 1000, so awsconf.c reads the two INI files itself.
 * Thread safe apart from reading the environment (no globals).
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
	 * (AWS_ACCESS_KEY_ID)", "/home/u/.aws/credentials [default]",
	 * "/home/u/.aws/config [profile ci]"; "" when no keys were found. */
	char cred_source[256];
} s3_aws_profile;

/*
 * Fill out (every pointer malloc'd or NULL; free with s3_aws_free).
 *
 * profile: the profile to use, or NULL for $AWS_PROFILE, else "default".
 * home: the home directory, or NULL for $HOME (tests pass a directory).
 *
 * Keys: AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY (+ AWS_SESSION_TOKEN)
 * when both are set and not empty, unless profile is passed explicitly:
 * then, as with the CLI's --profile, the profile wins over the
 * environment (AWS_PROFILE does not).  Else the profile's
 * aws_access_key_id, aws_secret_access_key and aws_session_token from
 * $AWS_SHARED_CREDENTIALS_FILE (~/.aws/credentials, section [NAME]), else
 * from $AWS_CONFIG_FILE (~/.aws/config, section [profile NAME]; for
 * "default" also [default]).
 *
 * Region: AWS_REGION, AWS_DEFAULT_REGION, the profile's region.
 * Endpoint: AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, the profile's
 * "services = NAME" section [services NAME] with "s3 =" and an indented
 * "endpoint_url = URL" under it, the profile's endpoint_url; none at all
 * when AWS_IGNORE_CONFIGURED_ENDPOINT_URLS (or the profile's
 * ignore_configured_endpoint_urls) is true.  As in botocore, these
 * profile settings may also be in the credentials file's [NAME], which
 * then wins over the config file.
 *
 * Missing files are not errors, nor is finding nothing.  Errors (-1 with
 * err set; the message names the file, the line and the problem and never
 * quotes a value): a file that is malformed, larger than 1 MiB, has a NUL
 * byte or a line over 64 KiB, or cannot be read; only one of the two key
 * environment variables or file keys; a profile named explicitly or by
 * AWS_PROFILE that is in neither file; a missing [services NAME].
 */
int s3_aws_load(const char *profile, const char *home, s3_aws_profile *out,
		char *err, size_t errlen);

/* Free (and wipe the secrets of) what s3_aws_load filled in; the pointers
 * become NULL, so calling it twice is harmless. */
void s3_aws_free(s3_aws_profile *p);

#endif /* CKPTIO_S3_AWSCONF_H */
