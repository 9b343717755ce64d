#!/usr/bin/perl
# Echoes the CGI environment (request headers as HTTP_*, REMOTE_USER, AUTH_TYPE, Auth0ClaimEnv variables) as JSON for the integration tests.
use strict;
use warnings;
use JSON::PP ();

my %env = %ENV;
my $out = JSON::PP->new->canonical->ascii->encode({ env => \%env });
print "Content-Type: application/json\r\n",
      "Cache-Control: no-store\r\n",
      "\r\n",
      $out, "\n";
