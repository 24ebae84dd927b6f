"""moto's server for the IAM-enforcement test (jobs/tests/iam.rs), with three
mends to how moto 5.2.1 authorizes a request, each making it do what AWS does.

1. moto's server recomputes a request's SigV4 signature from its path and
query after decoding them, so a signed request whose key holds an encoded
'=' (`raw/tiendas/extraido%3D…/`) or whose query holds an encoded '/'
(S3's `list-type=2&prefix=lake%2Fraw%2F`, as every SDK sends it) fails with
SignatureDoesNotMatch once enforcement is on. This launcher encodes them
again as SigV4's canonical form requires (each path segment, name and value
URI-encoded once) before moto computes the signature.

2. moto names a CloudWatch action after the service's signing name,
`monitoring:PutMetricData`; IAM's action is `cloudwatch:PutMetricData`.

3. moto authorizes S3's DeleteObjects against the bucket; AWS checks
`s3:DeleteObject` on each key the request names.

It then starts moto's server with the arguments it was given.
"""

import sys
from urllib.parse import quote, unquote

import xmltodict
from moto.iam import access_control
from moto.s3.responses import S3Response
from moto.server import main

_create_aws_request = access_control.IAMRequestBase._create_aws_request


def _canonical(part):
    return quote(unquote(part), safe="-_.~")


def _create_aws_request_with_encoded_query(self):
    path, sep, query = self._path.partition("?")
    self._path = quote(unquote(path), safe="/-_.~")
    if sep:
        pairs = (pair.partition("=") for pair in query.split("&"))
        self._path += "?" + "&".join(_canonical(k) + eq + _canonical(v) for k, eq, v in pairs)
    return _create_aws_request(self)


_check_action_permitted = access_control.IAMRequestBase.check_action_permitted


def _check_cloudwatch_action_permitted(self, resource):
    if self._action.startswith("monitoring:"):
        self._action = "cloudwatch:" + self._action.split(":", 1)[1]
    _check_action_permitted(self, resource)


_authorize_s3 = S3Response._authenticate_and_authorize_s3_action


def _authorize_s3_per_deleted_key(self, bucket_name=None, key_name=None):
    if bucket_name and key_name is None and self.is_delete_keys():
        objects = xmltodict.parse(self.body)["Delete"].get("Object", [])
        for obj in objects if isinstance(objects, list) else [objects]:
            _authorize_s3(self, bucket_name=bucket_name, key_name=obj["Key"])
        return
    _authorize_s3(self, bucket_name=bucket_name, key_name=key_name)


access_control.IAMRequestBase._create_aws_request = _create_aws_request_with_encoded_query
access_control.IAMRequestBase.check_action_permitted = _check_cloudwatch_action_permitted
S3Response._authenticate_and_authorize_s3_action = _authorize_s3_per_deleted_key

if __name__ == "__main__":
    main(sys.argv[1:])
