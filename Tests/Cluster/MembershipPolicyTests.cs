using MtnnCluster.Cli.Commands;
using MtnnCluster.Hosting;
using Xunit;

namespace MtnnCluster.Tests.Cluster;

/// <summary>The parts of the membership policy that need no cluster: the coordinator's bounded wait for workers, and worker ids.</summary>
public sealed class MembershipPolicyTests
{
    [Fact]
    public void The_worker_wait_runs_from_the_moment_the_last_worker_went_and_restarts_when_one_comes()
    {
        var absence = new WorkerAbsence(TimeSpan.FromSeconds(10));
        Assert.False(absence.Expired(2, TimeSpan.FromSeconds(0)));
        Assert.False(absence.Expired(0, TimeSpan.FromSeconds(5)));   // gone at 5 s
        Assert.False(absence.Expired(0, TimeSpan.FromSeconds(14)));
        Assert.False(absence.Expired(1, TimeSpan.FromSeconds(15))); // one came back
        Assert.False(absence.Expired(0, TimeSpan.FromSeconds(16)));
        Assert.False(absence.Expired(0, TimeSpan.FromSeconds(25)));
        Assert.True(absence.Expired(0, TimeSpan.FromSeconds(26)));
    }

    [Fact]
    public void A_worker_wait_of_zero_waits_forever()
    {
        var absence = new WorkerAbsence(TimeSpan.Zero);
        Assert.False(absence.Expired(0, TimeSpan.Zero));
        Assert.False(absence.Expired(0, TimeSpan.FromDays(30)));
    }

    [Theory]
    [InlineData("600", 600)]
    [InlineData("90s", 90)]
    [InlineData("10m", 600)]
    [InlineData("1.5h", 5400)]
    [InlineData("0", 0)]
    public void Worker_wait_durations_parse(string text, double seconds) =>
        Assert.Equal(TimeSpan.FromSeconds(seconds), ClusterCommands.WorkerWait(text));

    [Theory]
    [InlineData("ten")]
    [InlineData("5d")]
    [InlineData("-1")]
    [InlineData("")]
    public void Bad_worker_wait_durations_are_refused_naming_the_option(string text) =>
        Assert.StartsWith("--worker-wait:", Assert.Throws<ArgumentException>(() => ClusterCommands.WorkerWait(text)).Message);

    [Theory]
    [InlineData("worker-a")]
    [InlineData("gpu-node-3.cuda_0")]
    public void Worker_ids_of_letters_digits_dots_underscores_and_dashes_are_taken(string id) =>
        Assert.Equal(id, ClusterNodeOptions.ValidateWorkerId(id));

    [Theory]
    [InlineData("a/b")]
    [InlineData("a b")]
    [InlineData("-a")]
    [InlineData("")]
    [InlineData("a\"b")]
    public void Worker_ids_that_cannot_name_an_actor_and_a_role_are_refused(string id) =>
        Assert.StartsWith($"--id '{id}':", Assert.Throws<ArgumentException>(() => ClusterNodeOptions.ValidateWorkerId(id)).Message);
}
