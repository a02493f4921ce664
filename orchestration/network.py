"""Can a Glue job in the source connection's subnet reach what a night needs?

A Glue job with a connection runs in that subnet with private addresses only, so AWS's APIs are
reachable through a NAT gateway route or through VPC endpoints: S3 (the lake, the artifacts and
the wheel) by a gateway endpoint on the subnet's route table or an interface endpoint; Glue (the
Data Catalog: every publish), Secrets Manager (the source's credentials) and CloudWatch Logs
(the job's logs) by interface endpoints with private DNS, so the default endpoints resolve to
them. An internet gateway route does not help: the job's network interfaces get no public IP.
"""

from __future__ import annotations

from typing import Any

NEEDED = {
    "s3": "S3 (the lake, the artifacts, the wheel)",
    "glue": "Glue (the Data Catalog: every publish)",
    "secretsmanager": "Secrets Manager (the source's credentials)",
    "logs": "CloudWatch Logs (the job's logs)",
}


def subnet_of_connection(glue: Any, connection: str) -> str:
    found = glue.get_connection(Name=connection, HidePassword=True)["Connection"]
    subnet = found.get("PhysicalConnectionRequirements", {}).get("SubnetId")
    if not subnet:
        raise ValueError(f"the Glue connection {connection} names no subnet")
    return str(subnet)


def route_table_of(ec2: Any, subnet: str, vpc: str) -> dict[str, Any]:
    """The subnet's own route table, or else the VPC's main one (as VPC routing does)."""
    own = ec2.describe_route_tables(
        Filters=[{"Name": "association.subnet-id", "Values": [subnet]}]
    )["RouteTables"]
    if own:
        return dict(own[0])
    (main,) = ec2.describe_route_tables(
        Filters=[
            {"Name": "vpc-id", "Values": [vpc]},
            {"Name": "association.main", "Values": ["true"]},
        ]
    )["RouteTables"]
    return dict(main)


def unreachable(session: Any, connection: str) -> list[str]:
    """What a job in `connection`'s subnet cannot reach (empty: everything it needs)."""
    glue, ec2 = session.client("glue"), session.client("ec2")
    region = session.region_name
    subnet = subnet_of_connection(glue, connection)
    (described,) = ec2.describe_subnets(SubnetIds=[subnet])["Subnets"]
    vpc = described["VpcId"]
    table = route_table_of(ec2, subnet, vpc)
    if any(
        route.get("NatGatewayId") and route.get("DestinationCidrBlock") == "0.0.0.0/0"
        for route in table.get("Routes", [])
    ):
        return []
    endpoints = [
        e
        for e in ec2.describe_vpc_endpoints(Filters=[{"Name": "vpc-id", "Values": [vpc]}])[
            "VpcEndpoints"
        ]
        if e.get("State", "available").lower() == "available"
    ]
    reached = set()
    for e in endpoints:
        service = e["ServiceName"].removeprefix(f"com.amazonaws.{region}.")
        if e.get("VpcEndpointType") == "Gateway":
            if table["RouteTableId"] in e.get("RouteTableIds", []):
                reached.add(service)
        elif e.get("PrivateDnsEnabled") or service == "s3":
            reached.add(service)
    return [
        f"subnet {subnet} ({vpc}) of connection {connection} cannot reach {what}: no NAT "
        f"gateway route and no {kind} endpoint com.amazonaws.{region}.{service}"
        for service, what in NEEDED.items()
        if service not in reached
        for kind in ["gateway or interface" if service == "s3" else "interface (private DNS)"]
    ]
