"""deploy/aws/template.yaml, the whole AWS stack as code.

Two kinds of test. Deployed to the local CloudFormation API (moto): the stack completes and creates the
bucket (with its encryption), the roles with their inline policies resolved to real ARNs, the instance
profile and the function with its handler and environment. moto reports CREATE_COMPLETE while it silently
skips what it does not model (Scheduler schedules, the Glue database and crawler, the Athena workgroup,
the secret, the bucket policy, the invoke config), and of a bucket it applies only the encryption: so the
template itself is read for the rest (schedules, each role's actions and resources against the
least-privilege list, versioning, public access, lifecycle, Athena result encryption).
"""

from __future__ import annotations

import ast
import io
import json
import os
import re
import subprocess
import sys
import urllib.request
import zipfile
from pathlib import Path

import pytest

from retailflow.config import parse_hhmm
from retailflow.export import export_days
from retailflow.lake import Lake
from tests.deploy import TEMPLATE, load_template

# moto's server thread warns of each resource type it skips ("Tried to parse AWS::Scheduler::Schedule").
pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse:UserWarning")

PARAMS = {"LakeBucketName": "retail-lake", "CodeBucketName": "retail-code"}


@pytest.fixture(scope="module")
def template() -> dict:
    return load_template()


def resources(template: dict, kind: str) -> dict[str, dict]:
    return {name: r for name, r in template["Resources"].items() if r["Type"] == kind}


def statements(role: dict) -> dict[str, dict]:
    """A role's inline policy statements by Sid."""
    out = {}
    for policy in role["Properties"].get("Policies", []):
        for st in policy["PolicyDocument"]["Statement"]:
            assert st["Sid"] not in out, f"duplicate Sid {st['Sid']}"
            out[st["Sid"]] = st
    return out


def as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def sub(value) -> str:
    """The text of a !Sub (or a plain string)."""
    return value["Fn::Sub"] if isinstance(value, dict) and "Fn::Sub" in value else value


# -- (a) deployed to the local CloudFormation API ------------------------------------------------------


def deploy(aws, **overrides) -> dict:
    aws.bucket(PARAMS["CodeBucketName"])
    zipped = io.BytesIO()
    with zipfile.ZipFile(zipped, "w") as zf:
        zf.writestr("retailflow/__init__.py", "")
    defaults = load_template(TEMPLATE)["Parameters"]
    aws.client("s3").put_object(
        Bucket=PARAMS["CodeBucketName"], Key=defaults["CodeKey"]["Default"], Body=zipped.getvalue()
    )
    cfn = aws.client("cloudformation")
    cfn.create_stack(
        StackName="retailflow",
        TemplateBody=TEMPLATE.read_text(),
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"],
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in {**PARAMS, **overrides}.items()],
    )
    stack = cfn.describe_stacks(StackName="retailflow")["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")
    physical = {
        r["LogicalResourceId"]: r["PhysicalResourceId"]
        for r in cfn.describe_stack_resources(StackName="retailflow")["StackResources"]
        if "LogicalResourceId" in r  # moto lists the resources it skipped without a name
    }
    return {"outputs": {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}, "physical": physical}


def inline_policy(iam, role_name: str) -> dict[str, dict]:
    (name,) = iam.list_role_policies(RoleName=role_name)["PolicyNames"]
    document = iam.get_role_policy(RoleName=role_name, PolicyName=name)["PolicyDocument"]
    if isinstance(document, str):  # moto returns a policy that CloudFormation created as Python's repr of it
        document = ast.literal_eval(document)
    return {st["Sid"]: st for st in document["Statement"]}


def test_stack_deploys_bucket_function_and_roles(aws):
    stack = deploy(aws)
    bucket, physical = PARAMS["LakeBucketName"], stack["physical"]
    assert stack["outputs"]["LakeUrl"] == f"s3://{bucket}/retail"
    assert physical["LakeBucket"] == bucket
    assert "CrawlerRole" not in physical  # the crawler is off by default

    s3 = aws.client("s3")
    (rule,) = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"

    iam = aws.client("iam")
    role_arn = iam.get_role(RoleName=physical["ReadinessRole"])["Role"]["Arn"]
    function = aws.client("lambda").get_function(FunctionName="retailflow-readiness")["Configuration"]
    assert function["Handler"] == "retailflow.readiness.handler.handler"
    assert function["Runtime"] == "python3.12"
    assert function["Role"] == role_arn
    env = function["Environment"]["Variables"]
    assert env["RETAILFLOW_LAKE"] == f"s3://{bucket}/retail"
    assert env["RETAILFLOW_TRIGGER"] == "none"
    assert env["RETAILFLOW_TIMEZONE"] == "America/New_York"

    readiness = inline_policy(iam, physical["ReadinessRole"])
    assert readiness["ListLake"]["Resource"] == f"arn:aws:s3:::{bucket}"
    assert readiness["ReadRawZone"]["Resource"] == f"arn:aws:s3:::{bucket}/retail/raw/*"
    assert readiness["WriteState"]["Resource"] == f"arn:aws:s3:::{bucket}/retail/_state/*"
    assert readiness["Logs"]["Resource"].endswith(":log-group:/aws/lambda/retailflow-readiness:*")

    scheduler = inline_policy(iam, physical["SchedulerRole"])
    assert set(scheduler["InvokeReadiness"]["Resource"]) == {function["FunctionArn"], function["FunctionArn"] + ":*"}

    instance_role = iam.get_role(RoleName=physical["EmrInstanceRole"])["Role"]
    emr_service = inline_policy(iam, physical["EmrServiceRole"])
    assert emr_service["PassInstanceRole"]["Resource"] == instance_role["Arn"]
    profile = iam.get_instance_profile(InstanceProfileName=stack["outputs"]["EmrInstanceProfileName"])
    assert [r["RoleName"] for r in profile["InstanceProfile"]["Roles"]] == [physical["EmrInstanceRole"]]


def test_stack_with_the_crawler_creates_its_role(aws):
    stack = deploy(aws, EnableCrawler="true", LakePrefix="data/retail")
    policy = inline_policy(aws.client("iam"), stack["physical"]["CrawlerRole"])
    assert policy["ReadCurated"]["Resource"] == f"arn:aws:s3:::{PARAMS['LakeBucketName']}/data/retail/curated/*"
    assert stack["outputs"]["LakeUrl"] == f"s3://{PARAMS['LakeBucketName']}/data/retail"


def _set_auth(aws, count: str) -> None:
    """moto enforces IAM policies (actions and resources) on every request from now on ("0"), or never ("inf")."""
    request = urllib.request.Request(
        f"{aws.endpoint}/moto-api/reset-auth",
        data=count.encode(),
        method="POST",
        headers={"Content-Type": "text/plain"},
    )
    urllib.request.urlopen(request, timeout=10).close()


def _with_credentials(aws, credentials: dict, code: str, **env: str) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter with these credentials (no cached S3 clients)."""
    role_env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "RETAILFLOW_"))},
        **{k: v for k, v in aws.env.items() if k != "AWS_SESSION_TOKEN"},
        "AWS_ACCESS_KEY_ID": credentials["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": credentials["SecretAccessKey"],
        **env,
    }
    return subprocess.run([sys.executable, "-c", code], env=role_env, capture_output=True, text=True, timeout=120)


def test_the_deployed_readiness_role_lets_the_scan_work_and_nothing_more(aws, source, day):
    """The readiness policy as the stack created it, with moto enforcing IAM: the scan reads raw/ and writes
    _state/, and the same credentials cannot write the raw zone or the curated zone."""
    stack = deploy(aws)
    bucket = PARAMS["LakeBucketName"]
    export_days(source, Lake(f"s3://{bucket}/retail"), [day])
    # The role's policy as the stack resolved it, on a user: moto stores a role policy that CloudFormation
    # created in a form its own IAM enforcement cannot read, and it skipped the secret (a statement with
    # no resource). The S3 statements are the stack's, word for word.
    iam = aws.client("iam")
    statements = [st for st in inline_policy(iam, stack["physical"]["ReadinessRole"]).values() if "Resource" in st]
    iam.create_user(UserName="readiness")
    iam.put_user_policy(
        UserName="readiness",
        PolicyName="readiness",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": statements}),
    )
    key = iam.create_access_key(UserName="readiness")["AccessKey"]
    credentials = {"AccessKeyId": key["AccessKeyId"], "SecretAccessKey": key["SecretAccessKey"]}

    scan = f"import json; from retailflow.readiness.handler import handler; print(json.dumps(handler({{'date': '{day}'}})))"
    write = "from retailflow.lake import Lake; Lake('s3://{bucket}/retail').write_bytes('{zone}/x.txt', b'x')"
    _set_auth(aws, "0")
    try:
        scanned = _with_credentials(
            aws, credentials, scan, RETAILFLOW_LAKE=f"s3://{bucket}/retail", RETAILFLOW_TRIGGER="none"
        )
        denied = {
            zone: _with_credentials(aws, credentials, write.format(bucket=bucket, zone=zone))
            for zone in (f"raw/dt={day}", "curated")
        }
    finally:
        _set_auth(aws, "inf")

    assert scanned.returncode == 0, scanned.stderr
    assert json.loads(scanned.stdout.strip().splitlines()[-1])["status"] == "ready"
    assert aws.client("s3").get_object(Bucket=bucket, Key=f"retail/_state/scans/dt={day}.json")
    for zone, done in denied.items():
        assert done.returncode != 0 and "permission denied" in done.stderr, zone


# -- (b) what moto does not model: read from the template -----------------------------------------------


def test_two_schedules_at_0300_and_0330_new_york_time(template):
    schedules = resources(template, "AWS::Scheduler::Schedule")
    by_cron = {s["Properties"]["ScheduleExpression"]: s["Properties"] for s in schedules.values()}
    assert set(by_cron) == {"cron(0 3 * * ? *)", "cron(30 3 * * ? *)"}
    for props in by_cron.values():
        assert props["ScheduleExpressionTimezone"] == "America/New_York"
        assert props["FlexibleTimeWindow"] == {"Mode": "OFF"}
        assert props["State"] == "ENABLED"
        assert props["Target"]["Arn"] == {"Fn::GetAtt": ["ReadinessFunction", "Arn"]}
        assert props["Target"]["RoleArn"] == {"Fn::GetAtt": ["SchedulerRole", "Arn"]}
    assert json.loads(by_cron["cron(0 3 * * ? *)"]["Target"]["Input"]) == {}
    late = json.loads(by_cron["cron(30 3 * * ? *)"]["Target"]["Input"])
    assert late == {"deadline": "03:30"} and parse_hhmm(late["deadline"]).hour == 3  # what the handler reads


# Least privilege: every Allow statement of every role, exactly. Resources are the !Sub texts.
LAKE = "${LakeBucket.Arn}/${LakePrefix}"
EXPECTED = {
    "ReadinessRole": {
        "ListLake": ({"s3:ListBucket", "s3:GetBucketLocation"}, {"LakeBucket.Arn"}),
        "ReadRawZone": ({"s3:GetObject"}, {f"{LAKE}/raw/*"}),
        "WriteState": ({"s3:GetObject", "s3:PutObject", "s3:DeleteObject"}, {f"{LAKE}/_state/*"}),
        "ReadOrchestratorSecret": ({"secretsmanager:GetSecretValue"}, {"OrchestratorSecret"}),
        "Logs": ({"logs:CreateLogStream", "logs:PutLogEvents"}, {"${ReadinessLogGroup.Arn}:*"}),
    },
    "SchedulerRole": {
        "InvokeReadiness": ({"lambda:InvokeFunction"}, {"ReadinessFunction.Arn", "${ReadinessFunction.Arn}:*"}),
    },
    "CrawlerRole": {
        "ListCurated": ({"s3:ListBucket"}, {"LakeBucket.Arn"}),
        "ReadCurated": ({"s3:GetObject"}, {f"{LAKE}/curated/*"}),
    },
    "EmrServiceRole": {
        "PassInstanceRole": ({"iam:PassRole"}, {"EmrInstanceRole.Arn"}),
    },
    "EmrInstanceRole": {
        "ListLake": ({"s3:ListBucket", "s3:GetBucketLocation"}, {"LakeBucket.Arn"}),
        "ReadRawZone": ({"s3:GetObject"}, {f"{LAKE}/raw/*"}),
        "WriteOutputs": (
            {"s3:GetObject", "s3:PutObject", "s3:DeleteObject"},
            {f"{LAKE}/{zone}/*" for zone in ("curated", "quarantine", "catalog", "dashboard", "_state", "_staging")},
        ),
        "ReadCode": ({"s3:GetObject"}, {"arn:${AWS::Partition}:s3:::${CodeBucketName}/*"}),
        "GlueTables": (
            {
                "glue:GetDatabase",
                "glue:GetTable",
                "glue:GetTables",
                "glue:CreateTable",
                "glue:UpdateTable",
                "glue:DeleteTable",
                "glue:GetPartitions",
                "glue:BatchCreatePartition",
                "glue:BatchUpdatePartition",
                "glue:BatchDeletePartition",
            },
            {
                "arn:${AWS::Partition}:glue:${AWS::Region}:${AWS::AccountId}:catalog",
                "arn:${AWS::Partition}:glue:${AWS::Region}:${AWS::AccountId}:database/${GlueDatabaseName}",
                "arn:${AWS::Partition}:glue:${AWS::Region}:${AWS::AccountId}:table/${GlueDatabaseName}/*",
            },
        ),
    },
}
MANAGED = {
    "CrawlerRole": ["arn:${AWS::Partition}:iam::aws:policy/service-role/AWSGlueServiceRole"],
    "EmrServiceRole": ["arn:${AWS::Partition}:iam::aws:policy/service-role/AmazonEMRServicePolicy_v2"],
}
TRUSTED = {
    "ReadinessRole": "lambda.amazonaws.com",
    "SchedulerRole": "scheduler.amazonaws.com",
    "CrawlerRole": "glue.amazonaws.com",
    "EmrServiceRole": "elasticmapreduce.amazonaws.com",
    "EmrInstanceRole": "ec2.amazonaws.com",
}


def _resource_text(value) -> str:
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        return ".".join(value["Fn::GetAtt"])
    if isinstance(value, dict) and "Ref" in value:
        return value["Ref"]
    return sub(value)


def test_each_role_has_exactly_the_least_privilege_statements(template):
    roles = resources(template, "AWS::IAM::Role")
    assert set(roles) == set(EXPECTED)
    for name, role in roles.items():
        got = statements(role)
        assert set(got) == set(EXPECTED[name]), name
        for sid, (actions, targets) in EXPECTED[name].items():
            st = got[sid]
            assert st["Effect"] == "Allow"
            assert set(as_list(st["Action"])) == actions, f"{name}.{sid}"
            assert {_resource_text(r) for r in as_list(st["Resource"])} == targets, f"{name}.{sid}"
            for action in as_list(st["Action"]):
                assert "*" not in action, f"{name}.{sid}: wildcard action {action}"
        assert role["Properties"].get("ManagedPolicyArns", []) == [{"Fn::Sub": a} for a in MANAGED.get(name, [])]
        (trust,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
        assert trust["Principal"] == {"Service": TRUSTED[name]} and trust["Action"] == "sts:AssumeRole"


def test_conditions_narrow_what_is_passed_and_listed(template):
    roles = resources(template, "AWS::IAM::Role")
    assert statements(roles["EmrServiceRole"])["PassInstanceRole"]["Condition"] == {
        "StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}
    }
    assert statements(roles["CrawlerRole"])["ListCurated"]["Condition"] == {
        "StringLike": {"s3:prefix": {"Fn::Sub": "${LakePrefix}/curated/*"}}
    }
    (trust,) = roles["SchedulerRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}


def test_bucket_is_versioned_encrypted_private_with_lifecycle_rules(template):
    props = template["Resources"]["LakeBucket"]["Properties"]
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    (enc,) = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert enc["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in ("AES256", "aws:kms")
    block = props["PublicAccessBlockConfiguration"]
    assert block == dict.fromkeys(
        ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"), True
    )
    assert props["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    rules = {r["Id"]: r for r in props["LifecycleConfiguration"]["Rules"]}
    assert sub(rules["raw-zone"]["Prefix"]) == "${LakePrefix}/raw/"
    assert rules["raw-zone"]["ExpirationInDays"] == {"Ref": "RawRetentionDays"}
    assert sub(rules["quarantine"]["Prefix"]) == "${LakePrefix}/quarantine/"
    assert rules["quarantine"]["ExpirationInDays"] == {"Ref": "QuarantineRetentionDays"}
    assert all(r["Status"] == "Enabled" for r in rules.values())
    assert template["Resources"]["LakeBucket"]["DeletionPolicy"] == "Retain"

    (deny,) = template["Resources"]["LakeBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_athena_results_are_encrypted_and_enforced(template):
    config = template["Resources"]["AthenaWorkGroup"]["Properties"]["WorkGroupConfiguration"]
    assert config["EnforceWorkGroupConfiguration"] is True
    assert config["ResultConfiguration"]["EncryptionConfiguration"]["EncryptionOption"] in ("SSE_S3", "SSE_KMS")
    assert sub(config["ResultConfiguration"]["OutputLocation"]).startswith("s3://${LakeBucketName}/")


def test_glue_crawler_is_optional_and_off_by_default(template):
    assert template["Parameters"]["EnableCrawler"]["Default"] == "false"
    assert template["Conditions"]["CreateCrawler"] == {"Fn::Equals": [{"Ref": "EnableCrawler"}, "true"]}
    assert template["Resources"]["Crawler"]["Condition"] == "CreateCrawler"
    assert template["Resources"]["CrawlerRole"]["Condition"] == "CreateCrawler"
    assert "Condition" not in template["Resources"]["GlueDatabase"]


def test_secret_is_generated_and_only_the_lambda_reads_it(template):
    secret = template["Resources"]["OrchestratorSecret"]["Properties"]
    assert "SecretString" not in secret and "GenerateSecretString" in secret
    readers = [
        f"{name}.{sid}"
        for name, role in resources(template, "AWS::IAM::Role").items()
        for sid, st in statements(role).items()
        if any(a.startswith("secretsmanager:") for a in as_list(st["Action"]))
    ]
    assert readers == ["ReadinessRole.ReadOrchestratorSecret"]


def test_nothing_account_specific(template):
    text = TEMPLATE.read_text()
    assert not re.search(r"\b\d{12}\b", text), "an account id"
    assert not re.search(r"\b(us|eu|ap|sa|ca|me|af)-(east|west|north|south|central|northeast|southeast)-\d\b", text)
    assert "arn:aws:" not in text, "ARNs are built with ${AWS::Partition}"
    for name, param in template["Parameters"].items():
        if name.endswith("BucketName") and name != "LakeBucketName":
            assert "Default" not in param


def test_cfn_lint_is_clean():
    cfn_lint = Path(sys.executable).with_name("cfn-lint")
    if not cfn_lint.exists():
        pytest.skip("cfn-lint is not installed")
    result = subprocess.run([str(cfn_lint), str(TEMPLATE)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
