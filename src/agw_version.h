/* The release of mod_auth0gw: the one place its version is written (the Makefile, the Debian package, the status page and the start-up log line read it from here). */
#ifndef AGW_VERSION_H
#define AGW_VERSION_H

#define AGW_VERSION "1.0.0"

#endif
