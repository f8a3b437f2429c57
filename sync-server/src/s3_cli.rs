//! `fieldsync serve --s3-…`: the options that put blob bytes in an S3-compatible object
//! store instead of `<data>/blobs` (docs/operations.md, docs/adr/0018). The secret key is
//! read from the environment only (`FIELDSYNC_S3_SECRET_KEY`), never from a flag: flags
//! show up in `ps` and shell histories.

use clap::Args;
use fieldsync_server::blobstore::BlobStoreConfig;
use fieldsync_server::blobstore::s3::S3Config;

/// The environment variable holding the S3 secret access key.
pub const SECRET_ENV: &str = "FIELDSYNC_S3_SECRET_KEY";

/// S3 options of `fieldsync serve`.
#[derive(Args, Debug, Clone)]
pub struct S3Args {
    /// Keep attachment bytes in an S3-compatible object store at this endpoint
    /// (`https://host[:port]`, path-style requests) instead of files in the data folder.
    /// Needs --s3-bucket and --s3-access-key-id; the secret key is read from the
    /// FIELDSYNC_S3_SECRET_KEY environment variable.
    #[arg(long, requires_all = ["s3_bucket", "s3_access_key_id"])]
    pub s3_endpoint: Option<String>,
    /// The bucket for attachment bytes (create it first; it may be shared by every
    /// server node).
    #[arg(long, requires = "s3_endpoint")]
    pub s3_bucket: Option<String>,
    /// The region S3 requests are signed for.
    #[arg(long, default_value = "us-east-1")]
    pub s3_region: String,
    /// The S3 access key id.
    #[arg(long, env = "FIELDSYNC_S3_ACCESS_KEY_ID")]
    pub s3_access_key_id: Option<String>,
}

impl S3Args {
    /// The blob store these options choose, the secret from [`SECRET_ENV`].
    pub fn blob_store(&self) -> Result<BlobStoreConfig, String> {
        self.blob_store_with(std::env::var(SECRET_ENV).ok())
    }

    fn blob_store_with(&self, secret: Option<String>) -> Result<BlobStoreConfig, String> {
        let Some(endpoint) = &self.s3_endpoint else {
            return Ok(BlobStoreConfig::Files);
        };
        let secret = secret
            .filter(|s| !s.is_empty())
            .ok_or_else(|| format!("--s3-endpoint needs the secret key in {SECRET_ENV}"))?;
        Ok(BlobStoreConfig::S3(S3Config {
            endpoint: endpoint.clone(),
            bucket: self.s3_bucket.clone().unwrap_or_default(),
            region: self.s3_region.clone(),
            access_key_id: self.s3_access_key_id.clone().unwrap_or_default(),
            secret_key: secret,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct T {
        #[command(flatten)]
        s3: S3Args,
    }

    #[test]
    fn s3_options_choose_the_store() {
        let t = T::try_parse_from(["t"]).unwrap();
        assert!(matches!(
            t.s3.blob_store_with(None),
            Ok(BlobStoreConfig::Files)
        ));
        let t = T::try_parse_from([
            "t",
            "--s3-endpoint",
            "https://s3.example.net",
            "--s3-bucket",
            "att",
            "--s3-access-key-id",
            "AKID",
        ])
        .unwrap();
        match t.s3.blob_store_with(Some("sec".into())) {
            Ok(BlobStoreConfig::S3(c)) => {
                assert_eq!(c.endpoint, "https://s3.example.net");
                assert_eq!((c.bucket.as_str(), c.region.as_str()), ("att", "us-east-1"));
                assert_eq!(
                    (c.access_key_id.as_str(), c.secret_key.as_str()),
                    ("AKID", "sec")
                );
            }
            other => panic!("{other:?}"),
        }
        // No secret in the environment: a clear error naming the variable.
        let e = t.s3.blob_store_with(None).unwrap_err();
        assert!(e.contains(SECRET_ENV), "{e}");
        // An endpoint without a bucket is refused by the parser.
        assert!(T::try_parse_from(["t", "--s3-endpoint", "http://127.0.0.1:9000"]).is_err());
        // There is no flag for the secret.
        assert!(T::try_parse_from(["t", "--s3-secret-key", "x"]).is_err());
    }
}
