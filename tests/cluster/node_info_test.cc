// NodeInfo's encoding and GroupKeys' names, without etcd.
#include "cluster/node_info.h"

#include <gtest/gtest.h>

#include "cluster/etcd_client.h"
#include "cluster/group_keys.h"

namespace seatlock::cluster {
namespace {

TEST(NodeInfo, EncodesLegibleLinesAndParsesThemBack) {
  NodeInfo n{"n1", "10.0.0.1:7400", "10.0.0.1:7500", "primary", {120, 0, 37}};
  EXPECT_EQ(n.Encode(),
            "node_id=n1\naddress=10.0.0.1:7400\nrepl_address=10.0.0.1:7500\nrole=primary\n"
            "durable_lsn=120,0,37\n");
  auto back = NodeInfo::Parse(n.Encode());
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, n);
}

TEST(NodeInfo, EmptyFieldsRoundTrip) {
  NodeInfo n{"a", "", "", "", {}};
  auto back = NodeInfo::Parse(n.Encode());
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, n);
}

TEST(NodeInfo, IgnoresUnknownKeysAndNeedsNodeId) {
  auto n = NodeInfo::Parse("node_id=x\nfuture_field=1\nrole=replica");
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(n->node_id, "x");
  EXPECT_EQ(n->role, "replica");
  EXPECT_FALSE(NodeInfo::Parse("address=1.2.3.4:5\n").ok());
  EXPECT_FALSE(NodeInfo::Parse("node_id=x\ngarbage\n").ok());
  EXPECT_FALSE(NodeInfo::Parse("node_id=x\ndurable_lsn=1,two\n").ok());
  EXPECT_FALSE(NodeInfo::Parse("").ok());
}

TEST(GroupKeys, NamesTheGroupsKeys) {
  GroupKeys k("g1");
  EXPECT_EQ(k.leader(), "/seatlock/g1/leader");
  EXPECT_EQ(k.sync(), "/seatlock/g1/sync");
  EXPECT_EQ(k.member("n2"), "/seatlock/g1/members/n2");
  EXPECT_EQ(k.members_prefix(), "/seatlock/g1/members/");
  EXPECT_EQ(k.prefix(), "/seatlock/g1/");
}

TEST(GroupKeys, ValidatesNames) {
  EXPECT_TRUE(GroupKeys::ValidateName("group", "A-z_0.9").ok());
  EXPECT_TRUE(GroupKeys::ValidateName("group", std::string(64, 'a')).ok());
  EXPECT_FALSE(GroupKeys::ValidateName("group", std::string(65, 'a')).ok());
  EXPECT_FALSE(GroupKeys::ValidateName("group", "").ok());
  EXPECT_FALSE(GroupKeys::ValidateName("group", "a/b").ok());
  EXPECT_FALSE(GroupKeys::ValidateName("group", "a b").ok());
  EXPECT_DEATH(GroupKeys("../x"), "group");
}

TEST(EtcdClient, PrefixEnd) {
  EXPECT_EQ(EtcdClient::PrefixEnd("/a/"), "/a0");
  EXPECT_EQ(EtcdClient::PrefixEnd("a\xff"), "b");
  EXPECT_EQ(EtcdClient::PrefixEnd("\xff\xff"), std::string(1, '\0'));
  EXPECT_EQ(EtcdClient::PrefixEnd(""), std::string(1, '\0'));
}

TEST(EtcdClient, CreateValidatesEndpoints) {
  EXPECT_FALSE(EtcdClient::Create(EtcdOptions{}).ok());
  EXPECT_FALSE(EtcdClient::Create(EtcdOptions{{"https://127.0.0.1:2379"}}).ok());
  EXPECT_FALSE(EtcdClient::Create(EtcdOptions{{"127.0.0.1"}}).ok());
  EXPECT_FALSE(EtcdClient::Create(EtcdOptions{{"127.0.0.1:0"}}).ok());
  EXPECT_FALSE(EtcdClient::Create(EtcdOptions{{"127.0.0.1:99999"}}).ok());
  EXPECT_FALSE(EtcdClient::Create(EtcdOptions{{":2379"}}).ok());
  EXPECT_FALSE(EtcdClient::Create(EtcdOptions{{"127.0.0.1:2379"}, 0}).ok());
  // Nothing listens there: Create does not connect.
  EXPECT_TRUE(EtcdClient::Create(EtcdOptions{{"127.0.0.1:1", "http://localhost:2/"}}).ok());
  auto bad = EtcdClient::Create(EtcdOptions{{"ftp//x"}});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("ftp//x"), std::string::npos) << bad.status();
}

}  // namespace
}  // namespace seatlock::cluster
